/*
 * tls_hello.c: the server_name of a TLS ClientHello, peeked at by routed
 * mode before any upstream connection exists (contract in tls_hello.h and
 * sniff.h).
 *
 * Two layers. The record layer (tls_gather) walks the records, checks each
 * header, copies the handshake octets into one buffer and works out the
 * least input that could still complete the message. The message layer
 * (tls_parse_hello) reads the ClientHello through cursors that know two
 * ends: the declared end of their container (a read past it means a length
 * lies: SNIFF_MALFORMED) and the end of the octets gathered so far (a read
 * past it waits: SNIFF_NEED_MORE). So a lie is caught as soon as its octets
 * are seen, and a short read is never taken for one. Every call starts from
 * the first octet: no state is kept between peeks.
 */
#include "tls_hello.h"

#include <string.h>

#define TLS_RECORD_HEADER 5	/* type, version, 16-bit length */
#define TLS_RECORD_MAX 16384	/* RFC 8446 5.1: a plaintext fragment is at most 2^14 */
#define TLS_VERSION_MAJOR 3
#define TLS_VERSION_MINOR_MAX 4	/* 3.0 (SSL 3.0) to 3.4 (TLS 1.3) */
#define TLS_HANDSHAKE_HEADER 4	/* type, 24-bit length */
#define TLS_CLIENT_HELLO 1
#define TLS_RANDOM 32
#define TLS_SESSION_ID_MAX 32
#define TLS_EXT_SERVER_NAME 0
#define TLS_NAME_TYPE_HOST 0
#define TLS_EXT_TYPES 65536
#define TLS_GO 2		/* internal: this step is fine, carry on; never returned */

/* The handshake message gathered from the records read so far. */
struct tls_gather {
	uint8_t msg[SNIFF_MAX_PEEK];	/* fragments are smaller than the input */
	size_t have;		/* octets of the message gathered */
	size_t want;		/* its whole size, header included, once known; else 0 */
	size_t need;		/* with SNIFF_NEED_MORE: least input that could complete it */
	uint16_t version;	/* first record's version, once its header is there */
};

/* A window on the message: [pos, end) is declared, [pos, have) is there. */
struct tls_cursor {
	const uint8_t *p;
	size_t pos;
	size_t have;		/* pos <= have <= end */
	size_t end;
};

/* What the server_name extension holds, judged once the hello is complete. */
struct tls_sni {
	size_t hosts;		/* host_name entries */
	const uint8_t *name;	/* the last one, inside the gathered message */
	size_t len;
};

/* ---- the record layer ---- */

/* Checks the octets of a record header that are there (n <= 5). */
static int tls_check_header(const uint8_t *hdr, size_t n)
{
	size_t rec_len;

	if (n >= 1 && hdr[0] != TLS_CONTENT_HANDSHAKE)
		return SNIFF_MALFORMED;	/* alert, change_cipher_spec or data before the hello ended */
	if (n >= 2 && hdr[1] != TLS_VERSION_MAJOR)
		return SNIFF_MALFORMED;	/* no SSL 3 or TLS record has another major version */
	if (n >= 3 && hdr[2] > TLS_VERSION_MINOR_MAX)
		return SNIFF_MALFORMED;	/* later than TLS 1.3 */
	if (n < TLS_RECORD_HEADER)
		return TLS_GO;
	rec_len = (size_t)hdr[3] << 8 | hdr[4];
	if (rec_len == 0 || rec_len > TLS_RECORD_MAX)
		return SNIFF_MALFORMED;	/* RFC 8446 5.1: no empty handshake fragment, none over 2^14 */
	return TLS_GO;
}

/* Once its first octets are gathered: a ClientHello, and how long. */
static int tls_check_message(struct tls_gather *g)
{
	if (g->have >= 1 && g->msg[0] != TLS_CLIENT_HELLO)
		return SNIFF_MALFORMED;	/* a client's first handshake message is its hello */
	if (g->want == 0 && g->have >= TLS_HANDSHAKE_HEADER)
		g->want = TLS_HANDSHAKE_HEADER + ((size_t)g->msg[1] << 16 | (size_t)g->msg[2] << 8 |
						  g->msg[3]);
	return TLS_GO;
}

/*
 * The least input that could complete the message when the input (len
 * octets) ends header_left octets short of a whole record header, or, with
 * header_left 0, inside a record that still declares rec_left octets.
 * It only grows as octets arrive, so "cannot fit" never turns into "fits".
 */
static size_t tls_least_input(const struct tls_gather *g, size_t len, size_t header_left,
			      size_t rec_left)
{
	size_t missing = (g->want != 0 ? g->want : TLS_HANDSHAKE_HEADER) - g->have;

	if (header_left == 0 && rec_left < missing)
		header_left = TLS_RECORD_HEADER;	/* the rest needs another record */
	return len + header_left + missing;
}

/*
 * Walks the records in data[0..len), gathering handshake octets into g until
 * the message is complete: TLS_GO. SNIFF_NEED_MORE with g->need set, or
 * SNIFF_MALFORMED. len is at most sizeof g->msg, so the copies fit.
 */
static int tls_gather(const uint8_t *data, size_t len, struct tls_gather *g)
{
	size_t pos = 0;

	for (;;) {
		size_t left = len - pos, start = g->have, rec_len, frag;
		int status = tls_check_header(data + pos,
					      left < TLS_RECORD_HEADER ? left : TLS_RECORD_HEADER);

		if (status != TLS_GO)
			return status;
		if (left < TLS_RECORD_HEADER) {
			g->need = tls_least_input(g, len, TLS_RECORD_HEADER - left, 0);
			return SNIFF_NEED_MORE;
		}
		if (g->version == 0)
			g->version = (uint16_t)(data[pos + 1] << 8 | data[pos + 2]);
		rec_len = (size_t)data[pos + 3] << 8 | data[pos + 4];
		frag = rec_len < left - TLS_RECORD_HEADER ? rec_len : left - TLS_RECORD_HEADER;
		memcpy(g->msg + g->have, data + pos + TLS_RECORD_HEADER, frag);
		g->have += frag;
		status = tls_check_message(g);
		if (status != TLS_GO)
			return status;
		/*
		 * The record that ends the hello ends with it: the client has
		 * nothing to send after its hello before the server answers,
		 * and RFC 8446 5.1 wants a record boundary before a key
		 * change (0-RTT). So a record longer than that is a lie.
		 */
		if (g->want != 0 && start + rec_len > g->want)
			return SNIFF_MALFORMED;
		if (frag < rec_len) {
			g->need = tls_least_input(g, len, 0, rec_len - frag);
			return SNIFF_NEED_MORE;
		}
		if (g->want != 0 && g->have == g->want)
			return TLS_GO;
		pos += TLS_RECORD_HEADER + rec_len;
	}
}

/* ---- the message layer ---- */

/* Takes n octets: past the container a length lied; past the data, wait. */
static int cur_take(struct tls_cursor *c, size_t n, const uint8_t **bytes)
{
	if (n > c->end - c->pos)
		return SNIFF_MALFORMED;
	if (n > c->have - c->pos)
		return SNIFF_NEED_MORE;
	*bytes = c->p + c->pos;
	c->pos += n;
	return TLS_GO;
}

/*
 * Reads a vector's length (len_size octets) and opens inner on its contents.
 * c stays at the contents: the caller moves it to inner->end once inner is
 * read to its end (so c->pos never passes the data that is there).
 */
static int cur_vector(struct tls_cursor *c, size_t len_size, struct tls_cursor *inner)
{
	const uint8_t *b;
	size_t n;
	int status = cur_take(c, len_size, &b);

	if (status != TLS_GO)
		return status;
	n = len_size == 1 ? b[0] : (size_t)b[0] << 8 | b[1];
	if (n > c->end - c->pos)
		return SNIFF_MALFORMED;	/* the vector overruns its container */
	inner->p = c->p;
	inner->pos = c->pos;
	inner->end = c->pos + n;
	inner->have = c->have < inner->end ? c->have : inner->end;
	return TLS_GO;
}

/* Skips an opaque vector whose size must be within [min, max] (and even when asked). */
static int cur_skip_vector(struct tls_cursor *c, size_t len_size, size_t min, size_t max, int even)
{
	struct tls_cursor inner;
	const uint8_t *b;
	size_t n;
	int status = cur_vector(c, len_size, &inner);

	if (status != TLS_GO)
		return status;
	n = inner.end - inner.pos;
	if (n < min || n > max || (even && n % 2 != 0))
		return SNIFF_MALFORMED;
	status = cur_take(&inner, n, &b);
	if (status == TLS_GO)
		c->pos = inner.end;
	return status;
}

/*
 * The server_name extension (RFC 6066 3): a list of (name_type, name)
 * that fills the extension. Other name types are skipped, read as
 * 16-bit-length opaque names as host_name is (none is defined).
 */
static int tls_parse_server_name(struct tls_cursor *ext, struct tls_sni *sni)
{
	struct tls_cursor list, name;
	const uint8_t *type, *bytes;
	size_t len;
	int status = cur_vector(ext, 2, &list);

	if (status != TLS_GO)
		return status;
	if (list.end != ext->end)
		return SNIFF_MALFORMED;	/* octets beside the list, or a list past the extension */
	while (list.pos < list.end) {
		status = cur_take(&list, 1, &type);
		if (status == TLS_GO)
			status = cur_vector(&list, 2, &name);
		if (status != TLS_GO)
			return status;
		len = name.end - name.pos;
		if (len == 0)
			return SNIFF_MALFORMED;	/* HostName<1..2^16-1>: never empty */
		status = cur_take(&name, len, &bytes);
		if (status != TLS_GO)
			return status;
		if (*type == TLS_NAME_TYPE_HOST) {
			sni->hosts++;
			sni->name = bytes;
			sni->len = len;
		}
		list.pos = name.end;
	}
	ext->pos = list.end;
	return TLS_GO;
}

/*
 * The extensions block: it must end the hello exactly (RFC 8446 4.1.2), no
 * type may come twice (RFC 8446 4.2), and every one is walked, so a lie
 * after server_name is caught too. encrypted_client_hello (0xfe0d) is
 * skipped like any other: the outer server_name is the one to route by.
 */
static int tls_parse_extensions(struct tls_cursor *body, struct tls_sni *sni)
{
	uint8_t seen[TLS_EXT_TYPES / 8];
	struct tls_cursor block, ext;
	const uint8_t *b;
	int status = cur_vector(body, 2, &block);

	if (status != TLS_GO)
		return status;
	if (block.end != body->end)
		return SNIFF_MALFORMED;	/* octets after the extensions, or a block past the hello */
	memset(seen, 0, sizeof seen);
	while (block.pos < block.end) {
		unsigned type;

		status = cur_take(&block, 2, &b);
		if (status != TLS_GO)
			return status;
		type = (unsigned)b[0] << 8 | b[1];
		if (seen[type / 8] & 1u << type % 8)
			return SNIFF_MALFORMED;	/* the same extension twice */
		seen[type / 8] |= (uint8_t)(1u << type % 8);
		status = cur_vector(&block, 2, &ext);
		if (status != TLS_GO)
			return status;
		if (type == TLS_EXT_SERVER_NAME)
			status = tls_parse_server_name(&ext, sni);
		else
			status = cur_take(&ext, ext.end - ext.pos, &b);
		if (status != TLS_GO)
			return status;
		block.pos = ext.end;
	}
	body->pos = block.end;
	return TLS_GO;
}

/* The ClientHello body (RFC 8446 4.1.2, RFC 5246 7.4.1.2) up to what is there. */
static int tls_parse_hello(struct tls_cursor *body, struct tls_sni *sni)
{
	const uint8_t *b;
	int status = cur_take(body, 2, &b);

	if (status != TLS_GO)
		return status;
	if (b[0] != TLS_VERSION_MAJOR || b[1] > TLS_VERSION_MINOR_MAX)
		return SNIFF_MALFORMED;	/* legacy_version is SSL 3.0-TLS 1.2 (1.3 says 1.2) */
	status = cur_take(body, TLS_RANDOM, &b);
	if (status == TLS_GO)
		status = cur_skip_vector(body, 1, 0, TLS_SESSION_ID_MAX, 0);
	if (status == TLS_GO)	/* cipher suites: two octets each, at least one */
		status = cur_skip_vector(body, 2, 2, SIZE_MAX, 1);
	if (status == TLS_GO)	/* compression methods: at least one */
		status = cur_skip_vector(body, 1, 1, SIZE_MAX, 0);
	if (status != TLS_GO)
		return status;
	if (body->pos == body->end)
		return TLS_GO;	/* no extensions at all (SSL 3.0 style): no name */
	return tls_parse_extensions(body, sni);
}

/* The answer for a complete hello. */
static int tls_decide(const struct tls_sni *sni, struct sniff_result *out)
{
	if (sni->hosts == 0)
		return SNIFF_NO_NAME;
	if (sni->hosts > 1)
		return SNIFF_AMBIGUOUS;	/* RFC 6066 3: at most one name of a type */
	if (sniff_normalize_name((const char *)sni->name, sni->len, out->name, sizeof out->name) != 0)
		return SNIFF_BAD_NAME;
	return SNIFF_FOUND;
}

/* Parses what is gathered of the message; the answer when it is complete. */
static int tls_parse_message(struct tls_gather *g, struct sniff_result *out)
{
	struct tls_sni sni = { 0, NULL, 0 };
	struct tls_cursor body;
	int status;

	if (g->want == 0)
		return SNIFF_NEED_MORE;	/* its header is not all there */
	body.p = g->msg + TLS_HANDSHAKE_HEADER;
	body.pos = 0;
	body.end = g->want - TLS_HANDSHAKE_HEADER;
	body.have = g->have - TLS_HANDSHAKE_HEADER;	/* have <= want: tls_gather checks */
	status = tls_parse_hello(&body, &sni);
	if (status != TLS_GO)
		return status;
	return tls_decide(&sni, out);	/* TLS_GO means the body was read to its end */
}

int tls_hello_name(const uint8_t *data, size_t len, struct sniff_result *out)
{
	struct tls_gather g;
	int status;

	if (out == NULL)
		return SNIFF_NOT_THIS;
	memset(out, 0, sizeof *out);
	if (data == NULL || len == 0)
		return SNIFF_NEED_MORE;
	if (data[0] != TLS_CONTENT_HANDSHAKE)
		return SNIFF_NOT_THIS;	/* SSLv2's 0x80, plain text, anything else */
	out->proto = SNIFF_PROTO_TLS;
	if (len > SNIFF_MAX_PEEK)
		len = SNIFF_MAX_PEEK;	/* never look further than the caller may peek */
	g.have = g.want = g.need = 0;
	g.version = 0;
	status = tls_gather(data, len, &g);
	out->tls_version = g.version;
	if (status == SNIFF_MALFORMED)
		return status;
	status = tls_parse_message(&g, out);
	if (status == SNIFF_NEED_MORE && g.need > SNIFF_MAX_PEEK)
		return SNIFF_MALFORMED;	/* the declared lengths cannot end within what we peek */
	return status;
}
