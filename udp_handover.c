/*
 * udp_handover.c: see udp_handover.h for the steps. Every event that does
 * not fit the state (a SWITCH for a session that never announced itself, a
 * late timer after the switch) leaves the state as it is.
 */
#include "udp_handover.h"

enum udp_handover_state udp_handover_next(enum udp_handover_state state,
					  enum udp_handover_event event)
{
	switch (state) {
	case UDP_HANDOVER_OFF:
		return event == UDP_HANDOVER_ANNOUNCED ? UDP_HANDOVER_WAITING : state;
	case UDP_HANDOVER_WAITING:
		return event == UDP_HANDOVER_SWITCH || event == UDP_HANDOVER_LATE
			       ? UDP_HANDOVER_DIRECT
			       : state;
	case UDP_HANDOVER_DIRECT:
		return state;
	}
	return state;
}
