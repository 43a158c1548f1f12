/*
 * check_session: the UDP listener's bookkeeping: one session per client
 * (address and port), lookups by client and pid, and the FIFO of datagrams
 * that wait for a slot, with a dead child's unread datagrams put back first.
 */
#include <arpa/inet.h>
#include <check.h>

#include "t/check.h"
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

static struct sockaddr_storage v6_client(const char *addr, uint16_t port)
{
	struct sockaddr_storage storage;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&storage;

	memset(&storage, 0, sizeof storage);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	return storage;
}

static struct sockaddr_storage v4_client(const char *addr, uint16_t port)
{
	struct sockaddr_storage storage;
	struct sockaddr_in *sin = (struct sockaddr_in *)&storage;

	memset(&storage, 0, sizeof storage);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	return storage;
}

START_TEST(test_same_client_means_address_and_port)
{
	struct sockaddr_storage a = v6_client("::ffff:198.18.1.2", 4000);
	struct sockaddr_storage same = v6_client("::ffff:198.18.1.2", 4000);
	struct sockaddr_storage other_port = v6_client("::ffff:198.18.1.2", 4001);
	struct sockaddr_storage other_addr = v6_client("::ffff:198.18.1.3", 4000);
	struct sockaddr_storage v4 = v4_client("198.18.1.2", 4000);
	struct sockaddr_storage v4_same = v4_client("198.18.1.2", 4000);

	ck_assert_int_eq(session_same_client(&a, &same), 1);
	ck_assert_int_eq(session_same_client(&a, &other_port), 0);
	ck_assert_int_eq(session_same_client(&a, &other_addr), 0);
	ck_assert_int_eq(session_same_client(&a, &v4), 0);
	ck_assert_int_eq(session_same_client(&v4, &v4_same), 1);
}
END_TEST

START_TEST(test_table_finds_by_client_and_pid)
{
	struct session_table table;
	struct sockaddr_storage clients[100];

	session_table_init(&table);
	for (int i = 0; i < 100; i++) {
		clients[i] = v6_client("2001:db8::1", (uint16_t)(1000 + i));
		struct session *session = session_add(&table, &clients[i], sizeof clients[i], 0);

		ck_assert_ptr_nonnull(session);
		session->pid = 500 + i;
	}
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(session_find_client(&table, &clients[i], 0)->pid, 500 + i);
		ck_assert_int_eq(session_find_pid(&table, 500 + i)->pid, 500 + i);
	}
	session_remove(&table, session_find_pid(&table, 510));
	ck_assert_uint_eq(table.count, 99);
	ck_assert_ptr_null(session_find_client(&table, &clients[10], 0));
	ck_assert_ptr_null(session_find_pid(&table, 510));
	ck_assert_int_eq(session_find_client(&table, &clients[99], 0)->pid, 599);
	ck_assert_int_eq(session_find_pid(&table, 511)->parent_fd, -1);
	/* A range's listener: the same client on another of its sockets is another session. */
	ck_assert_ptr_null(session_find_client(&table, &clients[99], 1));
	session_add(&table, &clients[99], sizeof clients[99], 1)->pid = 700;
	ck_assert_int_eq(session_find_client(&table, &clients[99], 1)->pid, 700);
	ck_assert_int_eq(session_find_client(&table, &clients[99], 0)->pid, 599);
	session_table_free(&table);
}
END_TEST

static void push(struct pending_queue *queue, const struct sockaddr_storage *client,
		 const char *text)
{
	ck_assert_int_eq(pending_push(queue, client, sizeof *client, 0, (const uint8_t *)text,
				      strlen(text)), 0);
}

static void expect_pop(struct pending_queue *queue, const char *text)
{
	struct pending *item = pending_pop(queue);

	ck_assert_ptr_nonnull(item);
	ck_assert_uint_eq(item->len, strlen(text));
	ck_assert_int_eq(memcmp(item->data, text, item->len), 0);
	free(item);
}

START_TEST(test_pending_is_fifo_and_tracks_clients)
{
	struct sockaddr_storage a = v4_client("198.18.1.2", 1), b = v4_client("198.18.1.2", 2);
	struct pending_queue queue;

	pending_init(&queue);
	ck_assert_ptr_null(pending_pop(&queue));
	push(&queue, &a, "a1");
	push(&queue, &b, "b1");
	push(&queue, &a, "a2");
	ck_assert_uint_eq(queue.count, 3);
	ck_assert_uint_eq(queue.bytes, 3 * pending_cost(2));
	ck_assert_int_eq(pending_has_client(&queue, &b, 0), 1);
	ck_assert_int_eq(pending_has_client(&queue, &b, 1), 0);	/* another socket of a range */
	expect_pop(&queue, "a1");
	expect_pop(&queue, "b1");
	ck_assert_int_eq(pending_has_client(&queue, &b, 0), 0);
	expect_pop(&queue, "a2");
	ck_assert_ptr_null(pending_pop(&queue));
	ck_assert_uint_eq(queue.bytes, 0);
	ck_assert_ptr_null(queue.tail);
	push(&queue, &a, "after empty");
	expect_pop(&queue, "after empty");
}
END_TEST

START_TEST(test_prepend_puts_unread_first_in_order)
{
	struct sockaddr_storage a = v4_client("198.18.1.2", 1), b = v4_client("198.18.1.2", 2);
	struct pending_queue queue, unread;

	pending_init(&queue);
	pending_init(&unread);
	pending_prepend(&queue, &unread);	/* nothing to put back: no change */
	ck_assert_ptr_null(queue.head);
	push(&unread, &a, "u1");
	push(&unread, &a, "u2");
	pending_prepend(&queue, &unread);	/* into an empty queue */
	ck_assert_ptr_null(unread.head);
	push(&queue, &b, "q1");
	push(&unread, &b, "u0");
	pending_prepend(&queue, &unread);
	ck_assert_uint_eq(queue.count, 4);
	expect_pop(&queue, "u0");
	expect_pop(&queue, "u1");
	expect_pop(&queue, "u2");
	expect_pop(&queue, "q1");
	ck_assert_ptr_null(queue.tail);
}
END_TEST

START_TEST(test_budget_and_whole_datagrams)
{
	struct sockaddr_storage a = v4_client("198.18.1.2", 1);
	static uint8_t big[65535];
	struct pending_queue queue;
	size_t pushed = 0;

	pending_init(&queue);
	memset(big, 0xab, sizeof big);
	while (pending_has_room(&queue, 1, sizeof big)) {
		ck_assert_int_eq(pending_push(&queue, &a, sizeof a, 0, big, sizeof big), 0);
		pushed++;
	}
	ck_assert_uint_eq(pushed, SESSION_PENDING_BYTES / pending_cost(sizeof big));
	ck_assert_int_eq(pending_push(&queue, &a, sizeof a, 0, big, sizeof big), -1);
	ck_assert_int_eq(pending_push(&queue, &a, sizeof a, 0, big, 0), 0);	/* empty datagram */
	struct pending *first = pending_pop(&queue);
	ck_assert_uint_eq(first->len, sizeof big);
	ck_assert_int_eq(memcmp(first->data, big, sizeof big), 0);
	free(first);
	pending_free(&queue);
	ck_assert_uint_eq(queue.count, 0);
}
END_TEST

/*
 * A flood of empty datagrams costs memory too (each entry's struct and the
 * allocator's overhead): the budget counts it, and the entries are capped.
 */
START_TEST(test_budget_counts_real_memory)
{
	struct sockaddr_storage a = v4_client("198.18.1.2", 1);
	struct pending_queue queue;
	size_t pushed = 0;

	pending_init(&queue);
	ck_assert_uint_ge(pending_cost(0), sizeof(struct pending));
	ck_assert_uint_ge(pending_cost(100), sizeof(struct pending) + 100);
	while (pending_push(&queue, &a, sizeof a, 0, NULL, 0) == 0)
		pushed++;
	ck_assert_uint_le(pushed, SESSION_PENDING_ENTRIES);
	ck_assert_uint_le(pushed * pending_cost(0), SESSION_PENDING_BYTES);
	ck_assert_uint_eq(queue.bytes, pushed * pending_cost(0));
	ck_assert_int_eq(pending_has_room(&queue, 1, 0), 0);
	pending_free(&queue);
	ck_assert_uint_eq(queue.bytes, 0);
}
END_TEST

Suite *session_suite(void)
{
	Suite *suite = suite_create("session");
	TCase *tc = tcase_create("bookkeeping");

	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, test_same_client_means_address_and_port);
	tcase_add_test(tc, test_table_finds_by_client_and_pid);
	tcase_add_test(tc, test_pending_is_fifo_and_tracks_clients);
	tcase_add_test(tc, test_prepend_puts_unread_first_in_order);
	tcase_add_test(tc, test_budget_and_whole_datagrams);
	tcase_add_test(tc, test_budget_counts_real_memory);
	suite_add_tcase(suite, tc);
	return suite;
}
