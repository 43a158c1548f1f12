/*
 * session.h: the UDP listener's bookkeeping, kept apart from the sockets so
 * it can be tested alone. A session is one client (address and port) with
 * its child; datagrams of clients that cannot have a session yet (at
 * MAX_CONNECTIONS) wait in a FIFO, in arrival order, until a slot frees.
 */
#ifndef WHITELIST_SESSION_H
#define WHITELIST_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/*
 * The waiting queue's budget, in real memory: each entry costs its struct,
 * its datagram and the allocator's overhead, so a flood of empty datagrams
 * is bounded as tightly as one of large ones. Beyond it, the kernel holds
 * datagrams in the socket buffer, or drops them, as UDP may.
 */
#define SESSION_PENDING_BYTES (4u << 20)
#define SESSION_PENDING_ENTRIES 4096	/* also bounds the scans of pending_has_client */

/*
 * A client is an address and port, and which of the listener's sockets it
 * wrote to (a range's listener has one per port: a client of two of them
 * has two sessions, each to its own port on TARGET).
 */
struct session {
	struct sockaddr_storage client;
	socklen_t client_len;
	uint16_t socket;	/* index among the listener's sockets */
	pid_t pid;
	int parent_fd;	/* our end of the socketpair: datagrams to the child */
	int child_fd;	/* the child's end, kept to take back what it left unread */
};

struct session_table {
	struct session *items;
	size_t count, cap;
};

struct pending {
	struct pending *next;
	struct sockaddr_storage client;
	socklen_t client_len;
	uint16_t socket;
	size_t len;
	uint8_t data[];
};

struct pending_queue {
	struct pending *head, *tail;
	size_t count;
	size_t bytes;	/* what the entries cost, overhead included (pending_cost) */
};

/* 1 when a and b are the same client: family, address, port (v4-mapped as given). */
int session_same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

void session_table_init(struct session_table *table);
void session_table_free(struct session_table *table);
struct session *session_find_client(struct session_table *table,
				    const struct sockaddr_storage *client, uint16_t socket);
struct session *session_find_pid(struct session_table *table, pid_t pid);
/* Adds a session; NULL when out of memory. The pointer is valid until the next add/remove. */
struct session *session_add(struct session_table *table, const struct sockaddr_storage *client,
			    socklen_t client_len, uint16_t socket);
void session_remove(struct session_table *table, struct session *session);

void pending_init(struct pending_queue *queue);
/* What an entry holding a datagram of len bytes costs in memory. */
size_t pending_cost(size_t len);
/* 1 when `entries` more datagrams of `len` bytes each (at most) fit in the queue's budget. */
int pending_has_room(const struct pending_queue *queue, size_t entries, size_t len);
/* Appends a copy; -1 when out of memory or over budget. */
int pending_push(struct pending_queue *queue, const struct sockaddr_storage *client,
		 socklen_t client_len, uint16_t socket, const uint8_t *data, size_t len);
/* Moves all of front's datagrams, in order, before queue's (a dead child's unread ones). */
void pending_prepend(struct pending_queue *queue, struct pending_queue *front);
/* Unlinks and returns the first datagram (free() it), or NULL. */
struct pending *pending_pop(struct pending_queue *queue);
/* 1 when some datagram from client to socket is queued: later ones must queue behind it. */
int pending_has_client(const struct pending_queue *queue, const struct sockaddr_storage *client,
		       uint16_t socket);
void pending_free(struct pending_queue *queue);

#endif
