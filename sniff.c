/*
 * sniff.c: routed mode's dispatcher: which peeker reads the client's first
 * bytes (contract in sniff.h).
 *
 * TLS and HTTP/1.x never start alike: a TLS record's first octet is its
 * content type, 22 for the handshake that carries a ClientHello, and an
 * HTTP request starts with a method token or an empty line, where 22 (a
 * control character) cannot appear. So one octet decides; the HTTP peeker
 * then says SNIFF_NOT_THIS for whatever is neither.
 */
#include "sniff.h"

#include "http_head.h"
#include "tls_hello.h"

#include <string.h>

int sniff_name(const uint8_t *data, size_t len, struct sniff_result *out)
{
	if (out == NULL)
		return SNIFF_NOT_THIS;
	if (data == NULL || len == 0) {
		memset(out, 0, sizeof *out);
		return SNIFF_NEED_MORE;	/* nothing to tell them apart yet */
	}
	if (data[0] == TLS_CONTENT_HANDSHAKE)
		return tls_hello_name(data, len, out);
	return http_head_host(data, len, out);
}
