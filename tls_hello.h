/*
 * tls_hello.h: the server_name a TLS client asks for, read from its
 * ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2, RFC 6066 3) before the
 * proxy answers anything. Statuses, result and contract: sniff.h.
 */
#ifndef WHITELIST_TLS_HELLO_H
#define WHITELIST_TLS_HELLO_H

#include "sniff.h"

#define TLS_CONTENT_HANDSHAKE 22	/* the first byte of a handshake record */

/*
 * Reassembles the handshake message from the records in data[0..len) (any
 * fragmentation, 1-byte records included) and extracts the host_name of its
 * server_name extension once the whole ClientHello is there:
 * SNIFF_FOUND, or SNIFF_NO_NAME / SNIFF_AMBIGUOUS / SNIFF_BAD_NAME.
 * SNIFF_MALFORMED as soon as the bytes seen break the format, or when the
 * declared lengths cannot end within SNIFF_MAX_PEEK bytes; SNIFF_NOT_THIS
 * when data[0] is not 22 (SSLv2 hello, anything else); otherwise
 * SNIFF_NEED_MORE. Bytes after the record that ends the ClientHello are not
 * looked at (a TLS 1.3 client may send change_cipher_spec or early data).
 */
int tls_hello_name(const uint8_t *data, size_t len, struct sniff_result *out);

#endif
