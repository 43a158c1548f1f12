/*
 * session.c: see session.h. Linear scans: MAX_CONNECTIONS is in the
 * hundreds, and a scan of a few hundred entries costs less than the
 * datagram's own system calls.
 */
#include "session.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_INITIAL 16

int session_same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
	}
	return 0;
}

void session_table_init(struct session_table *table)
{
	memset(table, 0, sizeof *table);
}

void session_table_free(struct session_table *table)
{
	free(table->items);
	session_table_init(table);
}

struct session *session_find_client(struct session_table *table,
				    const struct sockaddr_storage *client, uint16_t socket)
{
	for (size_t i = 0; i < table->count; i++)
		if (table->items[i].socket == socket &&
		    session_same_client(&table->items[i].client, client))
			return &table->items[i];
	return NULL;
}

struct session *session_find_pid(struct session_table *table, pid_t pid)
{
	for (size_t i = 0; i < table->count; i++)
		if (table->items[i].pid == pid)
			return &table->items[i];
	return NULL;
}

struct session *session_add(struct session_table *table, const struct sockaddr_storage *client,
			    socklen_t client_len, uint16_t socket)
{
	struct session *session;

	if (table->count == table->cap) {
		size_t cap = table->cap ? table->cap * 2 : SESSION_INITIAL;
		struct session *items = realloc(table->items, cap * sizeof *items);

		if (!items)
			return NULL;
		table->items = items;
		table->cap = cap;
	}
	session = &table->items[table->count++];
	memset(session, 0, sizeof *session);
	memcpy(&session->client, client, client_len);
	session->client_len = client_len;
	session->socket = socket;
	session->parent_fd = session->child_fd = -1;
	return session;
}

void session_remove(struct session_table *table, struct session *session)
{
	*session = table->items[--table->count];
}

void pending_init(struct pending_queue *queue)
{
	memset(queue, 0, sizeof *queue);
}

size_t pending_cost(size_t len)
{
	/* glibc's malloc: a 16-byte aligned chunk with an 8-byte header, 32 bytes at least. */
	size_t chunk = (sizeof(struct pending) + len + 8 + 15) & ~(size_t)15;

	return chunk < 32 ? 32 : chunk;
}

int pending_has_room(const struct pending_queue *queue, size_t entries, size_t len)
{
	return queue->count + entries <= SESSION_PENDING_ENTRIES &&
	       queue->bytes + entries * pending_cost(len) <= SESSION_PENDING_BYTES;
}

static struct pending *pending_new(const struct pending_queue *queue,
				   const struct sockaddr_storage *client, socklen_t client_len,
				   const uint8_t *data, size_t len)
{
	struct pending *item;

	if (!pending_has_room(queue, 1, len) || !(item = malloc(sizeof *item + len)))
		return NULL;
	item->next = NULL;
	memcpy(&item->client, client, client_len);
	item->client_len = client_len;
	item->len = len;
	if (len)
		memcpy(item->data, data, len);
	return item;
}

int pending_push(struct pending_queue *queue, const struct sockaddr_storage *client,
		 socklen_t client_len, uint16_t socket, const uint8_t *data, size_t len)
{
	struct pending *item = pending_new(queue, client, client_len, data, len);

	if (!item)
		return -1;
	item->socket = socket;
	if (queue->tail)
		queue->tail->next = item;
	else
		queue->head = item;
	queue->tail = item;
	queue->count++;
	queue->bytes += pending_cost(len);
	return 0;
}

void pending_prepend(struct pending_queue *queue, struct pending_queue *front)
{
	if (!front->head)
		return;
	front->tail->next = queue->head;
	if (!queue->tail)
		queue->tail = front->tail;
	queue->head = front->head;
	queue->count += front->count;
	queue->bytes += front->bytes;
	pending_init(front);
}

struct pending *pending_pop(struct pending_queue *queue)
{
	struct pending *item = queue->head;

	if (!item)
		return NULL;
	queue->head = item->next;
	if (!queue->head)
		queue->tail = NULL;
	queue->count--;
	queue->bytes -= pending_cost(item->len);
	item->next = NULL;
	return item;
}

int pending_has_client(const struct pending_queue *queue, const struct sockaddr_storage *client,
		       uint16_t socket)
{
	for (const struct pending *item = queue->head; item; item = item->next)
		if (item->socket == socket && session_same_client(&item->client, client))
			return 1;
	return 0;
}

void pending_free(struct pending_queue *queue)
{
	struct pending *item;

	while ((item = pending_pop(queue)))
		free(item);
}
