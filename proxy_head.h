/*
 * proxy_head.h: the request head an explicit-proxy client sends to
 * CONNECT_PORT (HTTPS_PROXY=http://whitelist:3128): which host and port it
 * wants, in which form, with which credentials; and the head the proxy sends
 * on for an absolute-form request. The head is for the proxy: the relay
 * child consumes it (route.h's HEAD step), unlike routed mode's peek.
 *
 * Two forms are proxy requests (RFC 9112 3.2.2, 3.2.3):
 *   CONNECT host:port HTTP/1.1        authority-form: a tunnel (the port is required)
 *   GET http://host[:port]/p HTTP/1.1  absolute-form, http:// only: one request
 * Anything else (origin-form "GET /", "OPTIONS *", https:// targets, a TLS
 * hello, garbage) is PROXY_HEAD_MALFORMED: the caller answers 400.
 *
 * Contract: pure functions of the bytes given. They never print, exit or
 * allocate, never read outside data[0..len), and look at no more than the
 * first PROXY_HEAD_MAX bytes. A final answer (FOUND or MALFORMED) given for a
 * buffer is given again, with the same result, for every longer buffer that
 * starts with it; so bytes a client sends right behind its head (an eager
 * ClientHello) never change the answer. A head that has not ended within
 * PROXY_HEAD_MAX bytes stays NEED_MORE: the caller refuses it (400) when its
 * buffer is full.
 */
#ifndef WHITELIST_PROXY_HEAD_H
#define WHITELIST_PROXY_HEAD_H

#include <stddef.h>
#include <stdint.h>

#define PROXY_HEAD_MAX 16384
#define PROXY_HOST_SIZE 254	/* a name of 253, or an IP literal (46), and a NUL */
#define PROXY_CREDENTIALS_SIZE 512	/* "name:password" decoded, and a NUL */
/* What proxy_head_rewrite may write at most: every line end grown to CRLF, plus its own lines. */
#define PROXY_REWRITE_MAX (2 * PROXY_HEAD_MAX + PROXY_HOST_SIZE + 64)

enum proxy_head_status {
	PROXY_HEAD_FOUND = 1,		/* a whole head, *out filled */
	PROXY_HEAD_NEED_MORE = 0,	/* a valid prefix: read more */
	PROXY_HEAD_MALFORMED = -1,	/* no proxy request: out->problem says why */
};

enum proxy_head_form { PROXY_FORM_CONNECT, PROXY_FORM_ABSOLUTE };

/* A stretch of the head: data[off..off+len). */
struct proxy_span {
	size_t off, len;
};

struct proxy_head {
	enum proxy_head_form form;
	/*
	 * The host: a name normalized as sniff_normalize_name does (lower case,
	 * no trailing dot), or an IP literal as inet_ntop writes it (no brackets).
	 */
	char host[PROXY_HOST_SIZE];
	int host_family;		/* 0: a name; AF_INET or AF_INET6: a literal */
	uint16_t port;			/* CONNECT: as given; absolute-form: 80 unless given */
	size_t head_len;		/* bytes up to and including the empty line */
	struct proxy_span method;	/* the request line's parts */
	struct proxy_span target;
	struct proxy_span version;	/* "HTTP/1.0" or "HTTP/1.1" */
	struct proxy_span path;		/* absolute-form: path and query ("" is "/") */
	struct proxy_span authorization;	/* Proxy-Authorization's value, OWS trimmed; len 0: none */
	int has_authorization;
	const char *problem;		/* MALFORMED: a short phrase for the log and the 400 */
};

/*
 * Reads the head in data[0..len): optional empty lines, the request line
 * (CRLF or a lone LF), field lines, the empty line. The request line is
 * judged octet by octet (a TLS record or binary garbage is MALFORMED at its
 * first octet); a field line once it is whole: a name of tchars and a colon
 * (no whitespace before it), a value without control characters other than
 * HTAB; obs-fold continuation lines are refused, as is a second
 * Proxy-Authorization. The host: a name (sniff_normalize_name's rules), an
 * IPv4 literal in dotted decimal, or an IPv6 literal in brackets; userinfo,
 * fragments and ports outside 1-65535 are refused.
 */
int proxy_head_parse(const uint8_t *data, size_t len, struct proxy_head *out);

/*
 * An absolute-form head (parsed by proxy_head_parse from the same data) in
 * origin-form, as the server is to get it: "METHOD path VERSION", a Host
 * field naming the target's authority (the client's Host fields dropped),
 * every field but the proxy's own and the hop-by-hop ones (Proxy-
 * Authorization, Proxy-Connection, Connection, Keep-Alive, TE, Trailer,
 * Upgrade, Proxy-Authenticate, and any a Connection field names, but never
 * Content-Length or Transfer-Encoding: the body's framing stays), then
 * "Connection: close" and the empty line. Lines end in CRLF. The length
 * written into out, or -1 when it does not fit in size.
 */
int proxy_head_rewrite(const uint8_t *data, const struct proxy_head *head, char *out,
		       size_t size);

/*
 * Proxy-Authorization's value "Basic <base64>" (the scheme in any case):
 * the decoded "name:password" into out (NUL-terminated; a NUL inside is
 * refused). Its length, or -1 for another scheme, bad base64, no colon, or
 * no room.
 */
int proxy_head_basic(const uint8_t *value, size_t len, char *out, size_t size);

#endif
