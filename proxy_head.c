/*
 * proxy_head.c: the request head of an explicit-proxy client (contract in
 * proxy_head.h).
 *
 * One pass from the first octet, no state kept between reads: the request
 * line is judged octet by octet, so that what cannot become a proxy request
 * is refused at once rather than after ROUTE_TIMEOUT; each field line once
 * it is whole; the answer FOUND only at the empty line. Where RFC 9112 lets
 * a proxy either repair or reject (obs-fold, bare CR), this code rejects: a
 * head the proxy reads one way must not reach a server that reads it
 * another. The rewrite and the Basic decoder work on a head this parser has
 * accepted, and are as pure.
 */
#include "proxy_head.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sniff.h"

#define PROXY_METHOD_MAX 32	/* registered methods have at most 17 */
#define PROXY_PORT_DIGITS 5
#define PROXY_PORT_MAX 65535
#define PROXY_DEFAULT_PORT 80	/* absolute-form http:// without a port */
#define PROXY_GO 2		/* internal: this step is fine, carry on; never returned */
#define PROXY_END 3		/* internal: the empty line that ends the head was read */

struct proxy_parse {
	const uint8_t *p;
	size_t len;
	size_t pos;
	struct proxy_head *out;
};

/* RFC 9110 5.6.2: tchar. */
static int proxy_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static uint8_t proxy_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Whether s[0..n) is lit (lower case) in any case. */
static int proxy_equal_nocase(const uint8_t *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n && lit[i] != '\0'; i++)
		if (proxy_lower(s[i]) != (uint8_t)lit[i])
			return 0;
	return i == n && lit[i] == '\0';
}

static int proxy_malformed(struct proxy_parse *ps, const char *problem)
{
	ps->out->problem = problem;
	return PROXY_HEAD_MALFORMED;
}

/* Moves past a line end, CRLF or a lone LF (RFC 9112 2.2); a CR alone is an error. */
static int proxy_line_end(struct proxy_parse *ps)
{
	if (ps->pos == ps->len)
		return PROXY_HEAD_NEED_MORE;
	if (ps->p[ps->pos] == '\n') {
		ps->pos++;
		return PROXY_GO;
	}
	if (ps->p[ps->pos] != '\r')
		return proxy_malformed(ps, "the request line does not end after its version");
	if (ps->pos + 1 == ps->len)
		return PROXY_HEAD_NEED_MORE;
	if (ps->p[ps->pos + 1] != '\n')
		return proxy_malformed(ps, "a CR without LF");
	ps->pos += 2;
	return PROXY_GO;
}

/* RFC 9112 2.2: empty lines before the request line are skipped. */
static int proxy_skip_empty_lines(struct proxy_parse *ps)
{
	while (ps->pos < ps->len && (ps->p[ps->pos] == '\r' || ps->p[ps->pos] == '\n')) {
		int status = proxy_line_end(ps);

		if (status != PROXY_GO)
			return status;
	}
	return ps->pos == ps->len ? PROXY_HEAD_NEED_MORE : PROXY_GO;
}

/* A token of at most PROXY_METHOD_MAX octets, then SP. */
static int proxy_method(struct proxy_parse *ps)
{
	size_t start = ps->pos;

	while (ps->pos < ps->len && proxy_tchar(ps->p[ps->pos]) &&
	       ps->pos - start <= PROXY_METHOD_MAX)
		ps->pos++;
	if (ps->pos - start > PROXY_METHOD_MAX)
		return proxy_malformed(ps, "not an HTTP request");
	if (ps->pos == ps->len)
		return PROXY_HEAD_NEED_MORE;
	if (ps->pos == start || ps->p[ps->pos] != ' ')
		return proxy_malformed(ps, "not an HTTP request");
	ps->out->method = (struct proxy_span){ start, ps->pos - start };
	ps->pos++;
	return PROXY_GO;
}

/* Visible ASCII up to SP. */
static int proxy_target(struct proxy_parse *ps)
{
	size_t start = ps->pos;

	while (ps->pos < ps->len && ps->p[ps->pos] > ' ' && ps->p[ps->pos] < 0x7f)
		ps->pos++;
	if (ps->pos == ps->len)
		return PROXY_HEAD_NEED_MORE;
	if (ps->pos == start || ps->p[ps->pos] != ' ')
		return proxy_malformed(ps, "not an HTTP request target");
	ps->out->target = (struct proxy_span){ start, ps->pos - start };
	ps->pos++;
	return PROXY_GO;
}

/* "HTTP/1.0" or "HTTP/1.1", octet by octet. */
static int proxy_version(struct proxy_parse *ps)
{
	static const char prefix[] = "HTTP/1.";
	size_t start = ps->pos;

	for (size_t i = 0; i < sizeof prefix; i++, ps->pos++) {
		if (ps->pos == ps->len)
			return PROXY_HEAD_NEED_MORE;
		if (i < sizeof prefix - 1 ? ps->p[ps->pos] != (uint8_t)prefix[i]
					  : ps->p[ps->pos] != '0' && ps->p[ps->pos] != '1')
			return proxy_malformed(ps, "not HTTP/1.0 or HTTP/1.1");
	}
	ps->out->version = (struct proxy_span){ start, ps->pos - start };
	return proxy_line_end(ps);
}

/* 1-65535 in at most five digits; -1 else. */
static long proxy_port(const uint8_t *s, size_t n)
{
	long port = 0;

	if (n == 0 || n > PROXY_PORT_DIGITS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= PROXY_PORT_MAX ? port : -1;
}

/* An IP literal's text (v6 without brackets) into out as inet_ntop writes it; its family or 0. */
static int proxy_literal(const uint8_t *s, size_t n, int family, char *out, size_t size)
{
	char text[INET6_ADDRSTRLEN];
	uint8_t bytes[16];

	if (n == 0 || n >= sizeof text)
		return 0;
	memcpy(text, s, n);
	text[n] = '\0';
	if (inet_pton(family, text, bytes) != 1 || !inet_ntop(family, bytes, out, (socklen_t)size))
		return 0;
	return family;
}

/*
 * host[:port] or [v6][:port] into out->host, host_family and port. An
 * empty port (RFC 3986 3.2.3) or none takes fallback; fallback 0 means a
 * port is required.
 */
static int proxy_authority(struct proxy_parse *ps, const uint8_t *s, size_t n, long fallback)
{
	struct proxy_head *out = ps->out;
	size_t host_len = n, host_off = 0;
	const uint8_t *colon = NULL;
	long port = fallback;

	if (n > 0 && s[0] == '[') {
		const uint8_t *close = memchr(s, ']', n);

		if (!close || (close + 1 < s + n && close[1] != ':'))
			return proxy_malformed(ps, "a bad IPv6 literal");
		host_off = 1;
		host_len = (size_t)(close - s) - 1;
		colon = close + 1 < s + n ? close + 1 : NULL;
	} else {
		colon = memchr(s, ':', n);
		host_len = colon ? (size_t)(colon - s) : n;
	}
	if (colon && colon + 1 < s + n)
		port = proxy_port(colon + 1, (size_t)(s + n - colon - 1));
	if (port <= 0)
		return proxy_malformed(ps, fallback ? "a bad port" : "CONNECT needs host:port");
	out->port = (uint16_t)port;
	if (host_off)
		out->host_family = proxy_literal(s + 1, host_len, AF_INET6, out->host, sizeof out->host);
	else if (!(out->host_family = proxy_literal(s, host_len, AF_INET, out->host,
						    sizeof out->host)) &&
		 sniff_normalize_name((const char *)s, host_len, out->host, sizeof out->host) < 0)
		return proxy_malformed(ps, "not a host name or IP address");
	if (host_off && !out->host_family)
		return proxy_malformed(ps, "a bad IPv6 literal");
	return PROXY_GO;
}

/* CONNECT's authority-form, or an http:// absolute-form target; nothing else. */
static int proxy_target_form(struct proxy_parse *ps)
{
	struct proxy_head *out = ps->out;
	const uint8_t *target = ps->p + out->target.off, *end, *stop;
	size_t n = out->target.len;
	static const char scheme[] = "http://";

	if (out->method.len == 7 && memcmp(ps->p + out->method.off, "CONNECT", 7) == 0) {
		out->form = PROXY_FORM_CONNECT;
		if (memchr(target, '@', n) || memchr(target, '/', n))
			return proxy_malformed(ps, "CONNECT needs host:port");
		return proxy_authority(ps, target, n, 0);
	}
	out->form = PROXY_FORM_ABSOLUTE;
	if (n < sizeof scheme - 1 || !proxy_equal_nocase(target, sizeof scheme - 1, scheme))
		return proxy_malformed(ps, n > 0 && (target[0] == '/' || target[0] == '*')
				       ? "a target in origin-form, as servers get it"
				       : "only http:// targets (https goes through CONNECT)");
	if (memchr(target, '#', n))
		return proxy_malformed(ps, "a fragment in the target");
	target += sizeof scheme - 1;
	n -= sizeof scheme - 1;
	end = target + n;
	for (stop = target; stop < end && *stop != '/' && *stop != '?'; stop++)
		if (*stop == '@')
			return proxy_malformed(ps, "userinfo in the target");
	out->path = (struct proxy_span){ (size_t)(stop - ps->p), (size_t)(end - stop) };
	return proxy_authority(ps, target, (size_t)(stop - target), PROXY_DEFAULT_PORT);
}

/* A field value's octets: HTAB, SP, visible ASCII, obs-text (RFC 9110 5.5). */
static int proxy_value_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\t' && (s[i] < ' ' || s[i] == 0x7f))
			return 0;
	return 1;
}

/* One whole field line data[start..eol), its line end excluded. */
static int proxy_field(struct proxy_parse *ps, size_t start, size_t eol)
{
	const uint8_t *line = ps->p + start, *colon;
	size_t n = eol - start, name_len, value_off, value_end;

	if (line[0] == ' ' || line[0] == '\t')
		return proxy_malformed(ps, "a folded header line (obs-fold)");
	colon = memchr(line, ':', n);
	name_len = colon ? (size_t)(colon - line) : 0;
	for (size_t i = 0; i < name_len; i++)
		if (!proxy_tchar(line[i]))
			colon = NULL;
	if (!colon || name_len == 0)
		return proxy_malformed(ps, "a header line without a name and colon");
	for (value_off = name_len + 1; value_off < n && (line[value_off] == ' ' ||
							 line[value_off] == '\t'); value_off++)
		;
	for (value_end = n; value_end > value_off && (line[value_end - 1] == ' ' ||
						      line[value_end - 1] == '\t'); value_end--)
		;
	if (!proxy_value_ok(line + value_off, value_end - value_off))
		return proxy_malformed(ps, "a control character in a header");
	if (proxy_equal_nocase(line, name_len, "proxy-authorization")) {
		if (ps->out->has_authorization)
			return proxy_malformed(ps, "two Proxy-Authorization fields");
		ps->out->has_authorization = 1;
		ps->out->authorization = (struct proxy_span){ start + value_off,
							      value_end - value_off };
	}
	return PROXY_GO;
}

/* The next field line, or the empty line that ends the head (PROXY_END). */
static int proxy_field_line(struct proxy_parse *ps)
{
	const uint8_t *lf;
	size_t eol;

	if (ps->pos < ps->len && (ps->p[ps->pos] == '\r' || ps->p[ps->pos] == '\n')) {
		int status = proxy_line_end(ps);

		return status == PROXY_GO ? PROXY_END : status;
	}
	lf = memchr(ps->p + ps->pos, '\n', ps->len - ps->pos);
	if (!lf)
		return PROXY_HEAD_NEED_MORE;
	eol = (size_t)(lf - ps->p);
	if (eol > ps->pos && ps->p[eol - 1] == '\r')
		eol--;
	if (memchr(ps->p + ps->pos, '\r', eol - ps->pos))
		return proxy_malformed(ps, "a CR without LF");
	int status = proxy_field(ps, ps->pos, eol);

	ps->pos = (size_t)(lf - ps->p) + 1;
	return status;
}

int proxy_head_parse(const uint8_t *data, size_t len, struct proxy_head *out)
{
	struct proxy_parse ps = { .p = data, .len = len < PROXY_HEAD_MAX ? len : PROXY_HEAD_MAX,
				  .out = out };
	int status;

	memset(out, 0, sizeof *out);
	if ((status = proxy_skip_empty_lines(&ps)) != PROXY_GO ||
	    (status = proxy_method(&ps)) != PROXY_GO || (status = proxy_target(&ps)) != PROXY_GO ||
	    (status = proxy_version(&ps)) != PROXY_GO || (status = proxy_target_form(&ps)) != PROXY_GO)
		goto done;
	while ((status = proxy_field_line(&ps)) == PROXY_GO)
		;
	if (status == PROXY_END) {
		out->head_len = ps.pos;
		return PROXY_HEAD_FOUND;
	}
done:
	if (status != PROXY_HEAD_MALFORMED) {
		memset(out, 0, sizeof *out);
		return PROXY_HEAD_NEED_MORE;
	}
	{
		const char *problem = out->problem;

		memset(out, 0, sizeof *out);
		out->problem = problem;
	}
	return PROXY_HEAD_MALFORMED;
}

/* --- the absolute-form rewrite --- */

struct proxy_writer {
	char *out;
	size_t size, used;
	int overflow;
};

static void proxy_put(struct proxy_writer *w, const void *bytes, size_t n)
{
	if (w->overflow || n > w->size - w->used) {
		w->overflow = 1;
		return;
	}
	memcpy(w->out + w->used, bytes, n);
	w->used += n;
}

static void proxy_puts(struct proxy_writer *w, const char *text)
{
	proxy_put(w, text, strlen(text));
}

/*
 * The field lines of an accepted head, one per call: *name and *value (OWS
 * trimmed) of the line at *pos, which moves past it. 0 at the empty line.
 */
static int proxy_next_field(const uint8_t *data, const struct proxy_head *head, size_t *pos,
			    struct proxy_span *line, size_t *name_len, struct proxy_span *value)
{
	const uint8_t *lf = memchr(data + *pos, '\n', head->head_len - *pos);
	size_t eol = (size_t)(lf - data), start = *pos;

	if (eol > start && data[eol - 1] == '\r')
		eol--;
	if (eol == start)
		return 0;
	*pos = (size_t)(lf - data) + 1;
	*line = (struct proxy_span){ start, eol - start };
	*name_len = (size_t)((const uint8_t *)memchr(data + start, ':', eol - start) - data) - start;
	value->off = start + *name_len + 1;
	while (value->off < eol && (data[value->off] == ' ' || data[value->off] == '\t'))
		value->off++;
	value->len = eol - value->off;
	while (value->len > 0 && (data[value->off + value->len - 1] == ' ' ||
				  data[value->off + value->len - 1] == '\t'))
		value->len--;
	return 1;
}

/* Where the field lines start: past the request line (and the empty lines before it). */
static size_t proxy_fields_start(const uint8_t *data, const struct proxy_head *head)
{
	const uint8_t *lf = memchr(data + head->version.off, '\n', head->head_len - head->version.off);

	return (size_t)(lf - data) + 1;
}

/* 1 when the list value[0..n) (comma-separated, OWS around) holds the token name. */
static int proxy_list_has(const uint8_t *value, size_t n, const uint8_t *name, size_t name_len)
{
	size_t at = 0;

	while (at < n) {
		size_t end = at, first, last;

		while (end < n && value[end] != ',')
			end++;
		for (first = at; first < end && (value[first] == ' ' || value[first] == '\t'); first++)
			;
		for (last = end; last > first && (value[last - 1] == ' ' || value[last - 1] == '\t');
		     last--)
			;
		if (last - first == name_len) {
			size_t i = 0;

			while (i < name_len && proxy_lower(value[first + i]) == proxy_lower(name[i]))
				i++;
			if (i == name_len)
				return 1;
		}
		at = end + 1;
	}
	return 0;
}

/* 1 when a Connection field of the head names the field name (a hop-by-hop field). */
static int proxy_connection_names(const uint8_t *data, const struct proxy_head *head,
				  const uint8_t *name, size_t name_len)
{
	size_t pos = proxy_fields_start(data, head), field_name;
	struct proxy_span line, value;

	while (proxy_next_field(data, head, &pos, &line, &field_name, &value))
		if (proxy_equal_nocase(data + line.off, field_name, "connection") &&
		    proxy_list_has(data + value.off, value.len, name, name_len))
			return 1;
	return 0;
}

/* 1 when the field stays: not the proxy's, not hop-by-hop, not Host (written anew). */
static int proxy_field_kept(const uint8_t *data, const struct proxy_head *head,
			    const uint8_t *name, size_t len)
{
	static const char *const dropped[] = { "host", "proxy-authorization", "proxy-connection",
					       "connection", "keep-alive", "te", "trailer",
					       "upgrade", "proxy-authenticate" };

	for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
		if (proxy_equal_nocase(name, len, dropped[i]))
			return 0;
	/* The body's framing is never hop-by-hop here: it relays untouched. */
	if (proxy_equal_nocase(name, len, "content-length") ||
	    proxy_equal_nocase(name, len, "transfer-encoding"))
		return 1;
	return !proxy_connection_names(data, head, name, len);
}

/* "Host: a.example:8080": the target's authority, port only when not 80. */
static void proxy_put_host(struct proxy_writer *w, const struct proxy_head *head)
{
	char port[8] = "";

	if (head->port != PROXY_DEFAULT_PORT)
		snprintf(port, sizeof port, ":%u", (unsigned)head->port);
	proxy_puts(w, "Host: ");
	proxy_puts(w, head->host_family == AF_INET6 ? "[" : "");
	proxy_puts(w, head->host);
	proxy_puts(w, head->host_family == AF_INET6 ? "]" : "");
	proxy_puts(w, port);
	proxy_puts(w, "\r\n");
}

int proxy_head_rewrite(const uint8_t *data, const struct proxy_head *head, char *out, size_t size)
{
	struct proxy_writer w = { .out = out, .size = size };
	size_t pos = proxy_fields_start(data, head), name_len;
	struct proxy_span line, value;

	if (head->form != PROXY_FORM_ABSOLUTE || head->head_len == 0)
		return -1;
	proxy_put(&w, data + head->method.off, head->method.len);
	proxy_puts(&w, head->path.len == 0 || data[head->path.off] == '?' ? " /" : " ");
	proxy_put(&w, data + head->path.off, head->path.len);
	proxy_puts(&w, " ");
	proxy_put(&w, data + head->version.off, head->version.len);
	proxy_puts(&w, "\r\n");
	proxy_put_host(&w, head);
	while (proxy_next_field(data, head, &pos, &line, &name_len, &value)) {
		if (!proxy_field_kept(data, head, data + line.off, name_len))
			continue;
		proxy_put(&w, data + line.off, line.len);
		proxy_puts(&w, "\r\n");
	}
	proxy_puts(&w, "Connection: close\r\n\r\n");
	return w.overflow ? -1 : (int)w.used;
}

/* --- Basic credentials --- */

static int proxy_base64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with its padding (RFC 4648 4); the decoded length, or -1. */
static int proxy_base64(const uint8_t *s, size_t n, uint8_t *out, size_t size)
{
	size_t used = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			int last = i + 4 == n;

			if (last && s[i + k] == '=' && k >= 2 && (k == 3 || s[i + 3] == '=')) {
				v[k] = 0;
				pad++;
			} else if ((v[k] = proxy_base64_value(s[i + k])) < 0) {
				return -1;
			}
		}
		uint8_t bytes[3] = { (uint8_t)(v[0] << 2 | v[1] >> 4), (uint8_t)(v[1] << 4 | v[2] >> 2),
				     (uint8_t)(v[2] << 6 | v[3]) };

		if ((size_t)(3 - pad) > size - used)
			return -1;
		memcpy(out + used, bytes, (size_t)(3 - pad));
		used += (size_t)(3 - pad);
	}
	return (int)used;
}

int proxy_head_basic(const uint8_t *value, size_t len, char *out, size_t size)
{
	size_t at = 5;
	int got;

	if (size == 0)
		return -1;
	out[0] = '\0';
	if (len < at || !proxy_equal_nocase(value, at, "basic") || at == len || value[at] != ' ')
		return -1;
	while (at < len && value[at] == ' ')
		at++;
	got = proxy_base64(value + at, len - at, (uint8_t *)out, size - 1);
	if (got < 0 || memchr(out, '\0', (size_t)got) || !memchr(out, ':', (size_t)got)) {
		out[0] = '\0';
		return -1;
	}
	out[got] = '\0';
	return got;
}
