/*
 * check_udp_handover: the fast path's state machine (udp_handover.h), every
 * state with every event: only the transitions its comment lists happen.
 */
#include <check.h>

#include "t/check.h"
#include "udp_handover.h"

START_TEST(test_every_transition)
{
	static const struct {
		enum udp_handover_state from;
		enum udp_handover_event event;
		enum udp_handover_state to;
	} table[] = {
		{ UDP_HANDOVER_OFF, UDP_HANDOVER_ANNOUNCED, UDP_HANDOVER_WAITING },
		{ UDP_HANDOVER_OFF, UDP_HANDOVER_SWITCH, UDP_HANDOVER_OFF },	/* never announced */
		{ UDP_HANDOVER_OFF, UDP_HANDOVER_LATE, UDP_HANDOVER_OFF },
		{ UDP_HANDOVER_WAITING, UDP_HANDOVER_ANNOUNCED, UDP_HANDOVER_WAITING },
		{ UDP_HANDOVER_WAITING, UDP_HANDOVER_SWITCH, UDP_HANDOVER_DIRECT },
		{ UDP_HANDOVER_WAITING, UDP_HANDOVER_LATE, UDP_HANDOVER_DIRECT },
		{ UDP_HANDOVER_DIRECT, UDP_HANDOVER_ANNOUNCED, UDP_HANDOVER_DIRECT },
		{ UDP_HANDOVER_DIRECT, UDP_HANDOVER_SWITCH, UDP_HANDOVER_DIRECT },
		{ UDP_HANDOVER_DIRECT, UDP_HANDOVER_LATE, UDP_HANDOVER_DIRECT },
	};

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		ck_assert_msg(udp_handover_next(table[i].from, table[i].event) == table[i].to,
			      "row %zu", i);
}
END_TEST

Suite *udp_handover_suite(void)
{
	Suite *suite = suite_create("udp_handover");
	TCase *tc = tcase_create("transitions");

	tcase_add_test(tc, test_every_transition);
	suite_add_tcase(suite, tc);
	return suite;
}
