/*
 * config_ports.c: PORT's entries, a pure parser (config.h, "PORT's
 * entries"). A leaf: it calls no other module, so the unit tests and the
 * fuzz target drive it alone. config.c expands what it returns into the
 * listening ports; the listeners take one entry each.
 *
 * The forms: "443", "8443:443" (listen on 8443, forward to 443),
 * "20000-20100" (each port to itself), "*" (every TCP port, alone).
 * Entries may not share a listening port: two listeners cannot bind it,
 * and the kernel would refuse the second with a less helpful message.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PORTS_SEPARATORS " \t\n\r"
#define PORTS_WORD_MAX 64	/* longer words are quoted cut in errors */

static int ports_fail(char *err, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int ports_fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A port number from text[0..len): digits only (no sign, no blank), 1-65535.
 * Leading zeros are read as decimal ("080" is 80). 0 when not one.
 */
static uint16_t ports_number(const char *text, size_t len)
{
	unsigned long value = 0;

	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return 0;
		value = value * 10 + (unsigned long)(text[i] - '0');
		if (value > 65535)
			return 0;	/* also stops before a long run of digits could overflow */
	}
	return (uint16_t)value;
}

/* The canonical text of an entry: what metrics and the healthcheck call it. */
static void ports_name(struct conf_port *entry)
{
	if (entry->first == 0)
		snprintf(entry->text, sizeof entry->text, "*");
	else if (entry->to)
		snprintf(entry->text, sizeof entry->text, "%u:%u", entry->first, entry->to);
	else if (entry->first != entry->last)
		snprintf(entry->text, sizeof entry->text, "%u-%u", entry->first, entry->last);
	else
		snprintf(entry->text, sizeof entry->text, "%u", entry->first);
}

/* word[0..len) as one entry into out; -1 with err saying why it is none. */
static int ports_word(const char *word, size_t len, struct conf_port *out, char *err, size_t size)
{
	const char *colon = memchr(word, ':', len), *dash = memchr(word, '-', len);
	int shown = len > PORTS_WORD_MAX ? PORTS_WORD_MAX : (int)len;

	*out = (struct conf_port){ 0 };
	if (len == 1 && word[0] == '*') {
		ports_name(out);
		return 0;
	}
	if (colon && !dash) {
		size_t left = (size_t)(colon - word);

		out->first = out->last = ports_number(word, left);
		out->to = ports_number(colon + 1, len - left - 1);
		if (!out->first || !out->to)
			return ports_fail(err, size, "PORT: \"%.*s\" is not a pair LISTEN:TARGET of "
					  "port numbers (1-65535)", shown, word);
	} else if (dash && !colon) {
		size_t left = (size_t)(dash - word);

		out->first = ports_number(word, left);
		out->last = ports_number(dash + 1, len - left - 1);
		if (!out->first || !out->last)
			return ports_fail(err, size, "PORT: \"%.*s\" is not a range FIRST-LAST of "
					  "port numbers (1-65535)", shown, word);
		if (out->first > out->last)
			return ports_fail(err, size, "PORT: \"%.*s\" is a reversed range (%u > %u)",
					  shown, word, out->first, out->last);
	} else {
		out->first = out->last = colon ? 0 : ports_number(word, len);
		if (!out->first)
			return ports_fail(err, size, "PORT: \"%.*s\" is not a port number "
					  "(1-65535)", shown, word);
	}
	ports_name(out);
	return 0;
}

/* A new entry against those before it: "*" stands alone, listening ports are never shared. */
static int ports_check(const struct conf_port *entries, size_t count, const struct conf_port *new,
		       char *err, size_t size)
{
	for (size_t i = 0; i < count; i++) {
		const struct conf_port *old = &entries[i];

		if (!old->first || !new->first)
			return ports_fail(err, size, "PORT: \"*\" covers every port: it must be the "
					  "only entry (\"%s\" beside it)",
					  old->first ? old->text : new->text);
		if (old->first == new->first && old->last == new->last)
			return ports_fail(err, size, "PORT: %u is listed twice (\"%s\" and \"%s\")",
					  new->first, old->text, new->text);
		if (new->first <= old->last && old->first <= new->last)
			return ports_fail(err, size, "PORT: \"%s\" and \"%s\" overlap (port %u)",
					  old->text, new->text,
					  new->first > old->first ? new->first : old->first);
	}
	return 0;
}

size_t conf_port_sockets(const struct conf_port *entry)
{
	return entry->first ? (size_t)(entry->last - entry->first) + 1 : 1;
}

uint16_t conf_port_target(const struct conf_port *entry, uint16_t listen_port)
{
	return entry->to ? entry->to : listen_port;
}

int conf_ports_parse(const char *text, struct conf_port *entries, size_t max, char *err,
		     size_t size)
{
	size_t count = 0, sockets = 0;

	for (const char *word = text + strspn(text, PORTS_SEPARATORS); *word;
	     word += strspn(word, PORTS_SEPARATORS)) {
		size_t len = strcspn(word, PORTS_SEPARATORS);
		struct conf_port entry;

		if (ports_word(word, len, &entry, err, size) < 0 ||
		    ports_check(entries, count, &entry, err, size) < 0)
			return -1;
		if (count == max)
			return ports_fail(err, size, "PORT: more than %zu entries", max);
		sockets += conf_port_sockets(&entry);
		if (sockets > CONF_MAX_PORTS)
			return ports_fail(err, size, "PORT: more than %d ports in all (at \"%s\")",
					  CONF_MAX_PORTS, entry.text);
		entries[count++] = entry;
		word += len;
	}
	if (count == 0)
		return ports_fail(err, size, "PORT: lists no port (only blanks)");
	return (int)count;
}
