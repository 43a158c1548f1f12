/*
 * http_head.h: the host an HTTP/1.x client asks for, read from its request
 * head (RFC 9112 2-3, RFC 9110 7.2) before any upstream exists: the Host
 * field, the authority of an absolute-form target (http:// or https://), or
 * a CONNECT's authority-form target. Statuses, result and contract: sniff.h.
 */
#ifndef WHITELIST_HTTP_HEAD_H
#define WHITELIST_HTTP_HEAD_H

#include "sniff.h"

/*
 * Reads the request head in data[0..len): optional empty lines, then
 * "METHOD SP request-target SP HTTP/1.0|HTTP/1.1" and CRLF (or LF alone),
 * then field lines up to the empty line.
 *
 * SNIFF_NOT_THIS as soon as the bytes cannot become such a request line (a
 * method is a token of at most 32 characters; HTTP/0.9's "GET /" CRLF and
 * the HTTP/2 preface are not HTTP/1.x either). SNIFF_MALFORMED as soon as
 * the request line, once it has its version, ends with anything but CRLF or
 * LF (a bare CR, a space), or a field line breaks the format (whitespace
 * before the colon, a line without
 * one, control characters, whitespace before the first field line, an
 * obs-fold continuation of Host: a continuation of another field is
 * ignored), or the target is of no form we know (or holds userinfo@).
 * Otherwise nothing is final before the empty line that ends the head, so a
 * second Host anywhere is seen: SNIFF_NEED_MORE until then, also past
 * SNIFF_MAX_PEEK. Then:
 * - two Host fields, even equal: SNIFF_AMBIGUOUS;
 * - neither Host nor a target authority: SNIFF_NO_NAME (HTTP/1.0 too);
 * - a Host or target host that is no name (bracketed IPv6 literal, IPv4
 *   literal, a port that is not 0-65535 in digits, bad characters):
 *   SNIFF_BAD_NAME; "host:" with an empty port is accepted (RFC 3986 3.2.3);
 * - Host and target naming different hosts (ports do not count):
 *   SNIFF_AMBIGUOUS;
 * - else SNIFF_FOUND with the normalized host, port stripped.
 */
int http_head_host(const uint8_t *data, size_t len, struct sniff_result *out);

#endif
