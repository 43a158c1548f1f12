/*
 * sniff.h: routed mode's peekers. Which host a client asks for, read from the
 * first bytes it sends (a TLS ClientHello's server_name, or an HTTP/1.x
 * request head's Host or absolute-form target) before any upstream exists.
 *
 * The relay child peeks (MSG_PEEK, nothing consumed) and hands what it has
 * so far to sniff_name(); while the answer is SNIFF_NEED_MORE it peeks again
 * when more bytes come, up to SNIFF_MAX_PEEK bytes and ROUTE_TIMEOUT.
 *
 * Contract of every function here: pure functions of the bytes given. They
 * never print, exit or allocate, never read outside data[0..len), and look
 * at no more than the first SNIFF_MAX_PEEK bytes. A final answer (anything
 * but SNIFF_NEED_MORE) given for a buffer is given again, with the same
 * name, for every longer buffer that starts with it: more bytes can never
 * turn a refusal into a name, or one name into another.
 *
 * TLS never answers SNIFF_NEED_MORE once SNIFF_MAX_PEEK bytes are there:
 * a ClientHello whose declared lengths cannot end within them is
 * SNIFF_MALFORMED at once. An HTTP head that has not ended within
 * SNIFF_MAX_PEEK bytes stays SNIFF_NEED_MORE (a few long cookies are no
 * format error): the caller refuses it when its peek buffer is full.
 */
#ifndef WHITELIST_SNIFF_H
#define WHITELIST_SNIFF_H

#include <stddef.h>
#include <stdint.h>

enum sniff_proto { SNIFF_PROTO_NONE, SNIFF_PROTO_TLS, SNIFF_PROTO_HTTP };

enum sniff_status {
	SNIFF_FOUND = 1,	/* name written, normalized */
	SNIFF_NEED_MORE = 0,	/* a valid prefix: peek again when more bytes come */
	SNIFF_NO_NAME = -1,	/* complete ClientHello without server_name; HTTP request
				   with no Host and no absolute-form target */
	SNIFF_AMBIGUOUS = -2,	/* HTTP: two Host headers, or Host disagreeing with the
				   absolute-form target; TLS: two server_name entries of
				   type host_name */
	SNIFF_BAD_NAME = -3,	/* a name is there but is not a valid host name (IP
				   literal, bad chars, empty labels, too long...) */
	SNIFF_NOT_THIS = -4,	/* neither TLS nor HTTP/1.x (e.g. SSLv2 hello, HTTP/2
				   preface, SMTP, random bytes) */
	SNIFF_MALFORMED = -5,	/* it is TLS/HTTP but breaks the format: lengths that
				   lie, duplicate extensions, bad records, obs-fold on
				   Host, space before colon, userinfo, bare CR... */
};

#define SNIFF_MAX_PEEK 16384
#define SNIFF_NAME_MAX 253	/* RFC 1035 2.3.4, in presentation form, no trailing dot */
#define SNIFF_NAME_SIZE 254	/* 253 + NUL */

/*
 * proto: what the bytes are taken for (TLS as soon as the first byte is a
 * handshake record's, HTTP while they can still be a request line); NONE
 * with SNIFF_NOT_THIS and for an empty buffer, never with SNIFF_MALFORMED
 * (routed mode answers that in the protocol: a 400, a decode_error alert).
 * name: the normalized host with SNIFF_FOUND; "" with every other status.
 * tls_version: the first record's version (0x0300-0x0304) once its header
 * is there and valid, for the version of the alert sent back; else 0.
 */
struct sniff_result {
	enum sniff_proto proto;
	char name[SNIFF_NAME_SIZE];
	uint16_t tls_version;
};

/*
 * Decides from the first bytes which protocol it is and extracts the name:
 * a first byte 22 (a TLS handshake record) goes to tls_hello_name(),
 * anything else to http_head_host(), which says SNIFF_NOT_THIS as soon as
 * the bytes cannot start an HTTP/1.x request line. An empty buffer is
 * SNIFF_NEED_MORE. data may be NULL when len is 0.
 */
int sniff_name(const uint8_t *data, size_t len, struct sniff_result *out);

/*
 * Normalizes the host name in[0..len) into out (size bytes, NUL included):
 * lower case, one trailing dot removed. 0 when valid, -1 when not (out is
 * then ""). Valid: 1-253 characters; labels of 1-63 characters from
 * [a-z0-9-_], none starting or ending with '-'; no empty label; the last
 * label neither all digits nor "0x" and hex digits, so that no IPv4 literal
 * in any form inet_aton() reads ("127.1", "0x7f.1", "0x7f000001") passes.
 * A NUL inside in[0..len) is a bad character. in and out may be the same
 * buffer (normalizing in place).
 */
int sniff_normalize_name(const char *in, size_t len, char *out, size_t size);

#endif
