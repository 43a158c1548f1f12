/*
 * udp_handover.h: the UDP fast path's handover, the one state machine that
 * spans the UDP listener (udp.c) and a session (udp_session.c).
 *
 * A session starts on the slow path: the listener reads every datagram from
 * the port's socket and passes its client's on through the socketpair. The
 * fast path lets the kernel deliver the client's datagrams to the session
 * directly, without reordering any of them. The steps, in order:
 *
 *   1. session:  opens its own socket on the port (joining the port's
 *                SO_REUSEPORT group, whose BPF program steers every datagram
 *                that no connected socket claims to the listener) and
 *                connects it to the client: from now on the kernel queues
 *                that client's datagrams there. Earlier ones are in the
 *                listener's socket, or already in the pair.
 *   2. session:  writes its pid to the listener's notify pipe.      OFF -> WAITING
 *   3. listener: reads the pid and sends a marker datagram (magic + pid)
 *                from loopback to its own port: it queues behind every
 *                datagram already in the listener's socket.
 *   4. listener: reads the marker: every datagram of the client from before
 *                step 1 has been passed on; sends SWITCH on the pair, after
 *                them.
 *   5. session:  reads SWITCH from the pair, after those datagrams, and
 *                reads its own socket from now on (the pair too, which may
 *                still hold nothing but stragglers).          WAITING -> DIRECT
 *
 * Fallbacks: no own socket, or the pipe refuses the pid: the session stays
 * OFF (slow path for its life). The marker cannot be sent (no loopback):
 * the listener sends SWITCH at once (steps 3-4 merged). No SWITCH within
 * UDP_HANDOVER_LATE_MS: the session switches anyway (WAITING -> DIRECT).
 */
#ifndef WHITELIST_UDP_HANDOVER_H
#define WHITELIST_UDP_HANDOVER_H

#include <stdint.h>

#define UDP_HANDOVER_LATE_MS 2000	/* no SWITCH by then (no loopback?): take it anyway */
#define UDP_HANDOVER_MAGIC 0x776c6d6b	/* "wlmk", the marker's first word */

/* The marker datagram of step 3. */
struct udp_handover_marker {
	uint32_t magic;
	int32_t pid;
};

/* Where a session is in the handover. */
enum udp_handover_state {
	UDP_HANDOVER_OFF,	/* slow path: reads the pair only */
	UDP_HANDOVER_WAITING,	/* own socket connected, listener told: reads the pair until SWITCH */
	UDP_HANDOVER_DIRECT,	/* reads its own socket, and answers through it */
};

/* What happens to a session. */
enum udp_handover_event {
	UDP_HANDOVER_ANNOUNCED,	/* steps 1-2 done */
	UDP_HANDOVER_SWITCH,	/* step 5: SWITCH read from the pair */
	UDP_HANDOVER_LATE,	/* UDP_HANDOVER_LATE_MS passed while WAITING */
};

/* The one function that moves a session along: the new state after event. */
enum udp_handover_state udp_handover_next(enum udp_handover_state state,
					  enum udp_handover_event event);

#endif
