/*
 * http_head.c: the host of an HTTP/1.x request head, peeked at by routed
 * mode before any upstream connection exists (contract in http_head.h and
 * sniff.h).
 *
 * One pass from the first octet, no state kept between peeks: the request
 * line (anything that cannot become one is not HTTP/1.x), the form of its
 * target, then field lines until the empty line. Format errors end the pass
 * as soon as they are seen; the name is judged only at the end of the head,
 * once every Host field has been counted. Where RFC 9112 lets a server
 * either repair or reject (obs-fold, whitespace before the first field, bare
 * CR), this code rejects: the proxy must never read a different host out of
 * a request than the server behind it does.
 */
#include "http_head.h"

#include <string.h>

#define HTTP_METHOD_MAX 32	/* registered methods have at most 17; longer is not HTTP */
#define HTTP_PORT_DIGITS 5
#define HTTP_PORT_MAX 65535
#define HTTP_GO 2		/* internal: this step is fine, carry on; never returned */
#define HTTP_END 3		/* internal: the empty line that ends the head was read */

struct http_head {
	const uint8_t *p;
	size_t len;
	size_t pos;
	const uint8_t *method;
	size_t method_len;
	const uint8_t *target;
	size_t target_len;
	const uint8_t *authority;	/* host[:port] of the target; NULL for origin/asterisk-form */
	size_t authority_len;
	size_t hosts;		/* Host fields seen */
	const uint8_t *host;	/* the first one's value, OWS trimmed */
	size_t host_len;
	int fields;		/* a field line was read: a continuation has something to continue */
	int last_is_host;	/* the last field line was Host */
};

/* RFC 9110 5.6.2: tchar. */
static int http_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static uint8_t http_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Whether s[0..n) is lit (lower case) in any case. */
static int http_equal_nocase(const uint8_t *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n && lit[i] != '\0'; i++)
		if (http_lower(s[i]) != (uint8_t)lit[i])
			return 0;
	return i == n && lit[i] == '\0';
}

/*
 * Moves past a line end, CRLF or a lone LF (RFC 9112 2.2). bad: the answer
 * for anything else, a CR alone included.
 */
static int http_line_end(struct http_head *h, int bad)
{
	if (h->pos == h->len)
		return SNIFF_NEED_MORE;
	if (h->p[h->pos] == '\n') {
		h->pos++;
		return HTTP_GO;
	}
	if (h->p[h->pos] != '\r')
		return bad;
	if (h->pos + 1 == h->len)
		return SNIFF_NEED_MORE;
	if (h->p[h->pos + 1] != '\n')
		return bad;
	h->pos += 2;
	return HTTP_GO;
}

/* RFC 9112 2.2: empty lines before the request line are ignored. */
static int http_skip_empty_lines(struct http_head *h)
{
	while (h->pos < h->len && (h->p[h->pos] == '\r' || h->p[h->pos] == '\n')) {
		int status = http_line_end(h, SNIFF_NOT_THIS);

		if (status != HTTP_GO)
			return status;
	}
	return h->pos == h->len ? SNIFF_NEED_MORE : HTTP_GO;
}

/* Matches lit at pos, moving past it; SNIFF_NEED_MORE while what is there is a prefix. */
static int http_literal(struct http_head *h, const char *lit)
{
	for (size_t i = 0; lit[i] != '\0'; i++, h->pos++) {
		if (h->pos == h->len)
			return SNIFF_NEED_MORE;
		if (h->p[h->pos] != (uint8_t)lit[i])
			return SNIFF_NOT_THIS;
	}
	return HTTP_GO;
}

/* method SP: a token (RFC 9110 9.1), case kept: methods are case-sensitive. */
static int http_method(struct http_head *h)
{
	size_t start = h->pos;

	for (; h->pos < h->len && http_tchar(h->p[h->pos]); h->pos++)
		if (h->pos - start == HTTP_METHOD_MAX)
			return SNIFF_NOT_THIS;
	if (h->pos == h->len)
		return SNIFF_NEED_MORE;
	if (h->pos == start || h->p[h->pos] != ' ')
		return SNIFF_NOT_THIS;	/* binary, SSH banners, "\x00\x01"... */
	h->method = h->p + start;
	h->method_len = h->pos - start;
	h->pos++;
	return HTTP_GO;
}

/* request-target SP: visible ASCII, no space, not empty (RFC 9112 3.2). */
static int http_target(struct http_head *h)
{
	size_t start = h->pos;

	for (; h->pos < h->len && h->p[h->pos] > ' ' && h->p[h->pos] < 0x7f; h->pos++)
		;
	if (h->pos == h->len)
		return SNIFF_NEED_MORE;
	if (h->pos == start || h->p[h->pos] != ' ')
		return SNIFF_NOT_THIS;	/* HTTP/0.9's "GET /" CRLF, control or 8-bit octets */
	h->target = h->p + start;
	h->target_len = h->pos - start;
	h->pos++;
	return HTTP_GO;
}

/* The request line: METHOD SP target SP HTTP/1.0|HTTP/1.1 CRLF. */
static int http_request_line(struct http_head *h)
{
	int status = http_method(h);

	if (status == HTTP_GO)
		status = http_target(h);
	if (status == HTTP_GO)	/* "HTTP/2.0" (the h2 preface) and "HTTP/1.2" are not ours */
		status = http_literal(h, "HTTP/1.");
	if (status != HTTP_GO)
		return status;
	if (h->pos == h->len)
		return SNIFF_NEED_MORE;
	if (h->p[h->pos] != '0' && h->p[h->pos] != '1')
		return SNIFF_NOT_THIS;
	h->pos++;
	/* An HTTP/1.x request line by now: a bad end (a bare CR, a space) breaks its format. */
	return http_line_end(h, SNIFF_MALFORMED);
}

/*
 * The target's form (RFC 9112 3.2): origin-form "/...", "*" for OPTIONS,
 * authority-form for CONNECT, or absolute-form http(s)://authority/...;
 * for the last two, h->authority is set. Anything else is malformed.
 */
static int http_target_form(struct http_head *h)
{
	const uint8_t *t = h->target;
	size_t n = h->target_len, skip, end;

	if (h->method_len == 7 && memcmp(h->method, "CONNECT", 7) == 0) {
		if (memchr(t, ':', n) == NULL)
			return SNIFF_MALFORMED;	/* authority-form is host:port */
		skip = 0;
		end = n;
	} else if (t[0] == '/') {
		return HTTP_GO;
	} else if (n == 1 && t[0] == '*') {
		return h->method_len == 7 && memcmp(h->method, "OPTIONS", 7) == 0 ? HTTP_GO
										    : SNIFF_MALFORMED;
	} else {
		if (n >= 7 && http_equal_nocase(t, 7, "http://"))
			skip = 7;
		else if (n >= 8 && http_equal_nocase(t, 8, "https://"))
			skip = 8;
		else
			return SNIFF_MALFORMED;	/* another scheme, or no form at all */
		for (end = skip; end < n && t[end] != '/' && t[end] != '?' && t[end] != '#'; end++)
			;
	}
	if (memchr(t + skip, '@', end - skip) != NULL)
		return SNIFF_MALFORMED;	/* userinfo: RFC 9110 4.2.4 forbids it, it hides the host */
	h->authority = t + skip;
	h->authority_len = end - skip;
	return HTTP_GO;
}

/*
 * Moves past the rest of a field line, whose value (OWS trimmed) goes to
 * *value. Control characters but HTAB are malformed (RFC 9110 5.5: CR and
 * NUL are dangerous; the others are not field-vchar either).
 */
static int http_field_value(struct http_head *h, const uint8_t **value, size_t *value_len)
{
	size_t start = h->pos, stop;
	int status;

	while (h->pos < h->len && h->p[h->pos] != '\r' && h->p[h->pos] != '\n') {
		uint8_t c = h->p[h->pos];

		if ((c < ' ' && c != '\t') || c == 0x7f)
			return SNIFF_MALFORMED;
		h->pos++;
	}
	stop = h->pos;
	status = http_line_end(h, SNIFF_MALFORMED);
	if (status != HTTP_GO)
		return status;
	while (start < stop && (h->p[start] == ' ' || h->p[start] == '\t'))
		start++;
	while (stop > start && (h->p[stop - 1] == ' ' || h->p[stop - 1] == '\t'))
		stop--;
	*value = h->p + start;
	*value_len = stop - start;
	return HTTP_GO;
}

/* A field name and its colon: a token, then ':' at once (RFC 9112 5.1). */
static int http_field_name(struct http_head *h, const uint8_t **name, size_t *name_len)
{
	size_t start = h->pos;

	for (; h->pos < h->len && http_tchar(h->p[h->pos]); h->pos++)
		;
	if (h->pos == h->len)
		return SNIFF_NEED_MORE;
	if (h->pos == start || h->p[h->pos] != ':')
		return SNIFF_MALFORMED;	/* empty name, space before the colon, no colon */
	*name = h->p + start;
	*name_len = h->pos - start;
	h->pos++;
	return HTTP_GO;
}

/* One line of the field section: HTTP_GO, HTTP_END at the empty line, or a status. */
static int http_field_line(struct http_head *h)
{
	const uint8_t *name, *value;
	size_t name_len, value_len;
	int status;

	if (h->pos == h->len)
		return SNIFF_NEED_MORE;
	if (h->p[h->pos] == '\r' || h->p[h->pos] == '\n') {
		status = http_line_end(h, SNIFF_MALFORMED);
		return status == HTTP_GO ? HTTP_END : status;
	}
	if (h->p[h->pos] == ' ' || h->p[h->pos] == '\t') {
		/* obs-fold: part of the field above, never a field of its own */
		if (!h->fields || h->last_is_host)
			return SNIFF_MALFORMED;	/* nothing to continue, or a Host split in two */
		return http_field_value(h, &value, &value_len);
	}
	status = http_field_name(h, &name, &name_len);
	if (status == HTTP_GO)
		status = http_field_value(h, &value, &value_len);
	if (status != HTTP_GO)
		return status;
	h->fields = 1;
	h->last_is_host = http_equal_nocase(name, name_len, "host");
	if (h->last_is_host && h->hosts++ == 0) {
		h->host = value;
		h->host_len = value_len;
	}
	return HTTP_GO;
}

/* Normalizes the host of "host[:port]" into out: 0, or SNIFF_BAD_NAME. */
static int http_host_port(const uint8_t *s, size_t n, char *out, size_t size)
{
	const uint8_t *colon;
	unsigned long port = 0;

	if (n > 0 && s[0] == '[')
		return SNIFF_BAD_NAME;	/* an IPv6 or IPvFuture literal: not a name */
	colon = memchr(s, ':', n);
	if (colon != NULL) {
		size_t digits = n - (size_t)(colon - s) - 1;

		if (digits > HTTP_PORT_DIGITS)
			return SNIFF_BAD_NAME;
		for (size_t i = 0; i < digits; i++) {
			if (colon[1 + i] < '0' || colon[1 + i] > '9')
				return SNIFF_BAD_NAME;	/* a port is digits only */
			port = port * 10 + (colon[1 + i] - '0');
		}
		if (port > HTTP_PORT_MAX)
			return SNIFF_BAD_NAME;
		n = (size_t)(colon - s);
	}
	return sniff_normalize_name((const char *)s, n, out, size) == 0 ? 0 : SNIFF_BAD_NAME;
}

/* The answer once the whole head is read. */
static int http_decide(const struct http_head *h, struct sniff_result *out)
{
	char target[SNIFF_NAME_SIZE], host[SNIFF_NAME_SIZE];

	if (h->hosts > 1)
		return SNIFF_AMBIGUOUS;	/* RFC 9112 3.2: a server must answer 400 */
	if (h->authority == NULL && h->hosts == 0)
		return SNIFF_NO_NAME;
	if (h->authority != NULL &&
	    http_host_port(h->authority, h->authority_len, target, sizeof target) != 0)
		return SNIFF_BAD_NAME;
	if (h->hosts == 1 && http_host_port(h->host, h->host_len, host, sizeof host) != 0)
		return SNIFF_BAD_NAME;
	if (h->authority != NULL && h->hosts == 1 && strcmp(target, host) != 0)
		return SNIFF_AMBIGUOUS;	/* which one the server believes is its choice, not ours */
	strcpy(out->name, h->authority != NULL ? target : host);	/* both fit: SNIFF_NAME_SIZE */
	return SNIFF_FOUND;
}

int http_head_host(const uint8_t *data, size_t len, struct sniff_result *out)
{
	struct http_head h;
	int status;

	if (out == NULL)
		return SNIFF_NOT_THIS;
	memset(out, 0, sizeof *out);
	if (data == NULL || len == 0)
		return SNIFF_NEED_MORE;
	if (len > SNIFF_MAX_PEEK)
		len = SNIFF_MAX_PEEK;	/* never look further than the caller may peek */
	memset(&h, 0, sizeof h);
	h.p = data;
	h.len = len;
	status = http_skip_empty_lines(&h);
	if (status == HTTP_GO)
		status = http_request_line(&h);
	if (status == HTTP_GO)
		status = http_target_form(&h);
	while (status == HTTP_GO)
		status = http_field_line(&h);
	if (status == HTTP_END)
		status = http_decide(&h, out);
	out->proto = status == SNIFF_NOT_THIS ? SNIFF_PROTO_NONE : SNIFF_PROTO_HTTP;
	return status;
}
