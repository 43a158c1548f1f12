/*
 * t/check_tls_hello.c: the Check suite for tls_hello.c, the ClientHello
 * peeker of routed mode.
 *
 * ClientHellos are built octet by octet with a small builder that remembers
 * where each length field is, then wrapped in records of any size. Every
 * case is fed prefix by prefix from a buffer of the exact size
 * (t/sniff_kit.c): each prefix must say NEED_MORE until the one answer the
 * case expects, which no later octet may change. The tables cover the
 * record layer (fragmentation down to 1-byte records, bad types, versions
 * and lengths, what fits in SNIFF_MAX_PEEK), every length field lying by +1
 * and -1, the body's fields, extensions (duplicates, ECH, after
 * server_name), the server_name list and the names themselves; then every
 * octet of a valid hello is corrupted.
 */
#include "tls_hello.h"

#include <check.h>

#include "t/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sniff_kit.h"

#define WIRE_MAX (7 * SNIFF_MAX_PEEK)	/* a 16 KiB message in 1-byte records, and some */
#define REC_TLS10 0x0301		/* what most clients put on their hello's record */
#define EXT_SUPPORTED_GROUPS 0x000a
#define EXT_EC_POINT_FORMATS 0x000b
#define EXT_PADDING 0x0015
#define EXT_SUPPORTED_VERSIONS 0x002b
#define EXT_PSK_MODES 0x002d
#define EXT_KEY_SHARE 0x0033
#define EXT_ECH 0xfe0d
#define NAME "www.example.com"

/* ---- the ClientHello builder ---- */

/* The length fields a lie can be told in. */
enum field { F_RECORD, F_HS, F_SID, F_CIPHERS, F_COMP, F_EXTS, F_SNI_EXT, F_SNI_LIST, F_HOST,
	     F_COUNT };
static const size_t field_width[F_COUNT] = { 2, 3, 1, 2, 1, 2, 2, 2, 2 };

struct hello {
	uint8_t b[WIRE_MAX];
	size_t len;
	size_t at[F_COUNT];	/* offset of each length field in b; F_RECORD: in the wire */
	int exts_open;
};

static void put8(struct hello *h, unsigned value)
{
	ck_assert_uint_lt(h->len, sizeof h->b);
	h->b[h->len++] = (uint8_t)value;
}

static void put16(struct hello *h, unsigned value)
{
	put8(h, value >> 8);
	put8(h, value & 0xff);
}

static void put_bytes(struct hello *h, const void *data, size_t len)
{
	ck_assert_uint_le(len, sizeof h->b - h->len);
	memcpy(h->b + h->len, data, len);
	h->len += len;
}

static void put_fill(struct hello *h, unsigned value, size_t len)
{
	for (size_t i = 0; i < len; i++)
		put8(h, value);
}

/* Room for a length of field_width[f] octets, filled by close_len(). */
static void open_len(struct hello *h, enum field f)
{
	h->at[f] = h->len;
	put_fill(h, 0, field_width[f]);
}

static void close_len(struct hello *h, enum field f)
{
	size_t value = h->len - h->at[f] - field_width[f];

	for (size_t i = 0; i < field_width[f]; i++)
		h->b[h->at[f] + i] = (uint8_t)(value >> (8 * (field_width[f] - 1 - i)));
}

/* Handshake header, legacy_version, random, session_id, cipher_suites, compression. */
static void hello_start_with(struct hello *h, unsigned version, size_t sid, size_t cipher_octets,
			     size_t comp)
{
	memset(h, 0, sizeof *h);
	put8(h, 1);
	open_len(h, F_HS);
	put16(h, version);
	put_fill(h, 0xaa, 32);
	open_len(h, F_SID);
	put_fill(h, 0x5a, sid);
	close_len(h, F_SID);
	open_len(h, F_CIPHERS);
	for (size_t i = 0; i < cipher_octets; i++)
		put8(h, i % 2 ? 0x2f : 0x13);
	close_len(h, F_CIPHERS);
	open_len(h, F_COMP);
	put_fill(h, 0, comp);
	close_len(h, F_COMP);
}

static void hello_start(struct hello *h)
{
	hello_start_with(h, 0x0303, 32, 6, 1);
}

static void exts_start(struct hello *h)
{
	open_len(h, F_EXTS);
	h->exts_open = 1;
}

static void ext_raw(struct hello *h, unsigned type, const void *data, size_t len)
{
	put16(h, type);
	put16(h, (unsigned)len);
	put_bytes(h, data, len);
}

static void ext_fill(struct hello *h, unsigned type, unsigned value, size_t len)
{
	put16(h, type);
	put16(h, (unsigned)len);
	put_fill(h, value, len);
}

/* server_name with one host_name entry of name[0..len). */
static void ext_sni_len(struct hello *h, const char *name, size_t len)
{
	put16(h, 0);
	open_len(h, F_SNI_EXT);
	open_len(h, F_SNI_LIST);
	put8(h, 0);
	open_len(h, F_HOST);
	put_bytes(h, name, len);
	close_len(h, F_HOST);
	close_len(h, F_SNI_LIST);
	close_len(h, F_SNI_EXT);
}

static void ext_sni(struct hello *h, const char *name)
{
	ext_sni_len(h, name, strlen(name));
}

/* What browsers put before server_name and after it. */
static void exts_before(struct hello *h)
{
	static const uint8_t groups[] = { 0, 4, 0, 0x1d, 0, 0x17 };
	static const uint8_t points[] = { 1, 0 };

	ext_raw(h, EXT_SUPPORTED_GROUPS, groups, sizeof groups);
	ext_raw(h, EXT_EC_POINT_FORMATS, points, sizeof points);
}

static void exts_after(struct hello *h)
{
	static const uint8_t versions[] = { 4, 3, 4, 3, 3 };
	static const uint8_t modes[] = { 1, 1 };
	uint8_t share[2 + 2 + 2 + 32] = { 0, 36, 0, 0x1d, 0, 32 };

	memset(share + 6, 0x33, 32);
	ext_raw(h, EXT_SUPPORTED_VERSIONS, versions, sizeof versions);
	ext_raw(h, EXT_KEY_SHARE, share, sizeof share);
	ext_raw(h, EXT_PSK_MODES, modes, sizeof modes);
}

static void hello_end(struct hello *h)
{
	if (h->exts_open)
		close_len(h, F_EXTS);
	close_len(h, F_HS);
}

/* A typical hello naming name[0..len). */
static void hello_named_len(struct hello *h, const char *name, size_t len)
{
	hello_start(h);
	exts_start(h);
	exts_before(h);
	ext_sni_len(h, name, len);
	exts_after(h);
	hello_end(h);
}

static void hello_named(struct hello *h, const char *name)
{
	hello_named_len(h, name, strlen(name));
}

/* The message in one record, in place: the builder's offsets move by 5. */
static void wrap(struct hello *h, size_t frag, unsigned version)
{
	static uint8_t wire[WIRE_MAX];
	size_t len = kit_records(h->b, h->len, frag, (uint16_t)version, wire, sizeof wire);

	memcpy(h->b, wire, len);
	h->len = len;
	for (int f = F_HS; f < F_COUNT; f++)
		h->at[f] += 5;
	h->at[F_RECORD] = 3;
}

/* Adds delta to a length field already in the wire. */
static void lie(struct hello *h, enum field f, int delta)
{
	size_t value = 0, width = field_width[f];

	for (size_t i = 0; i < width; i++)
		value = value << 8 | h->b[h->at[f] + i];
	value += (size_t)(long)delta;
	for (size_t i = 0; i < width; i++)
		h->b[h->at[f] + i] = (uint8_t)(value >> (8 * (width - 1 - i)));
}

/* ---- the case table: each builder leaves the wire bytes in h ---- */

static void b_plain(struct hello *h)
{
	hello_named(h, NAME);
	wrap(h, 0, REC_TLS10);
}

static void b_record_tls12(struct hello *h)
{
	hello_named(h, NAME);
	wrap(h, 0, 0x0303);
}

static void b_record_ssl3(struct hello *h)
{
	hello_named(h, NAME);
	wrap(h, 0, 0x0300);
}

static void b_record_tls13(struct hello *h)
{
	hello_named(h, NAME);
	wrap(h, 0, 0x0304);
}

static void b_record_3_5(struct hello *h)
{
	hello_named(h, NAME);
	wrap(h, 0, 0x0305);
}

static void b_record_2_0(struct hello *h)
{
	hello_named(h, NAME);
	wrap(h, 0, 0x0200);
}

static void b_three_records(struct hello *h)
{
	static uint8_t wire[WIRE_MAX];
	size_t len = 0;

	hello_named(h, NAME);
	/* cut inside the handshake header, then inside server_name */
	len += kit_records(h->b, 2, 0, REC_TLS10, wire, sizeof wire);
	len += kit_records(h->b + 2, 100, 0, 0x0303, wire + len, sizeof wire - len);
	len += kit_records(h->b + 102, h->len - 102, 0, REC_TLS10, wire + len, sizeof wire - len);
	memcpy(h->b, wire, len);
	h->len = len;
}

static void b_one_byte_records(struct hello *h)
{
	hello_named(h, NAME);
	wrap(h, 1, REC_TLS10);
}

static void b_seven_byte_records(struct hello *h)
{
	hello_named(h, NAME);
	wrap(h, 7, REC_TLS10);
}

/* A record of another type or an empty one between two fragments. */
static void between_fragments(struct hello *h, const uint8_t *record, size_t len)
{
	static uint8_t wire[WIRE_MAX];
	size_t n;

	hello_named(h, NAME);
	n = kit_records(h->b, 50, 0, REC_TLS10, wire, sizeof wire);
	memcpy(wire + n, record, len);
	n += len;
	n += kit_records(h->b + 50, h->len - 50, 0, REC_TLS10, wire + n, sizeof wire - n);
	memcpy(h->b, wire, n);
	h->len = n;
}

static void b_empty_record_between(struct hello *h)
{
	static const uint8_t empty[] = { 22, 3, 1, 0, 0 };

	between_fragments(h, empty, sizeof empty);
}

static void b_ccs_between(struct hello *h)
{
	static const uint8_t ccs[] = { 20, 3, 3, 0, 1, 1 };

	between_fragments(h, ccs, sizeof ccs);
}

static void b_alert_between(struct hello *h)
{
	static const uint8_t alert[] = { 21, 3, 3, 0, 2, 2, 40 };

	between_fragments(h, alert, sizeof alert);
}

static void b_ccs_after(struct hello *h)
{
	static const uint8_t ccs[] = { 20, 3, 3, 0, 1, 1 };

	b_plain(h);
	put_bytes(h, ccs, sizeof ccs);
}

static void b_early_data_after(struct hello *h)
{
	b_plain(h);
	put8(h, 23);
	put16(h, 0x0303);
	put16(h, 40);
	put_fill(h, 0xee, 40);
}

static void b_garbage_after(struct hello *h)
{
	b_plain(h);
	put_fill(h, 0xff, 20);
}

static void b_trailing_in_record(struct hello *h)
{
	hello_named(h, NAME);
	put8(h, 0);	/* an octet after the hello, inside its record */
	wrap(h, 0, REC_TLS10);
}

static void b_next_message_in_record(struct hello *h)
{
	hello_named(h, NAME);
	put_bytes(h, "\x01\x00\x00\x00", 4);	/* a second (empty) handshake message */
	wrap(h, 0, REC_TLS10);
}

static void b_record_too_long(struct hello *h)
{
	memset(h, 0, sizeof *h);
	put_bytes(h, "\x16\x03\x01\x40\x01", 5);	/* 16385 */
}

static void b_record_max_header(struct hello *h)
{
	memset(h, 0, sizeof *h);
	/* a whole record of 16384 and its header cannot fit in a peek of 16384 */
	put_bytes(h, "\x16\x03\x01\x40\x00\x01\x00\x3f\xfc", 9);
}

static void b_server_hello(struct hello *h)
{
	hello_named(h, NAME);
	h->b[0] = 2;
	wrap(h, 0, REC_TLS10);
}

static void b_hs_too_long(struct hello *h)
{
	memset(h, 0, sizeof *h);
	put_bytes(h, "\x16\x03\x01\x00\x04\x01\x00\x3f\xfd", 9);	/* 16381 + 4 + 5 > 16384 */
}

static void b_hs_huge(struct hello *h)
{
	memset(h, 0, sizeof *h);
	put_bytes(h, "\x16\x03\x01\x00\x04\x01\xff\xff\xff", 9);
}

/* A hello padded to make the wire exactly wire_len octets, in one record. */
static void padded(struct hello *h, size_t wire_len)
{
	size_t pad;

	hello_start(h);
	exts_start(h);
	ext_sni(h, NAME);
	pad = wire_len - 5 - h->len - 4;
	ext_fill(h, EXT_PADDING, 0, pad);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
	ck_assert_uint_eq(h->len, wire_len);
}

static void b_fits_exactly(struct hello *h)
{
	padded(h, SNIFF_MAX_PEEK);
}

/* 16385 octets cannot come in one record: the message goes in two. */
static void b_one_octet_too_many(struct hello *h)
{
	size_t pad;

	hello_start(h);
	exts_start(h);
	ext_sni(h, NAME);
	pad = SNIFF_MAX_PEEK + 1 - 10 - h->len - 4;
	ext_fill(h, EXT_PADDING, 0, pad);
	hello_end(h);
	wrap(h, 8192, REC_TLS10);
	ck_assert_uint_eq(h->len, SNIFF_MAX_PEEK + 1);
}

/* A message of msg_len octets in 1-byte records: 6 octets of input each. */
static void one_byte_records_of(struct hello *h, size_t msg_len)
{
	hello_start(h);
	exts_start(h);
	ext_sni(h, NAME);
	ext_fill(h, EXT_PADDING, 0, msg_len - h->len - 4);
	hello_end(h);
	ck_assert_uint_eq(h->len, msg_len);
	wrap(h, 1, REC_TLS10);
}

static void b_small_records_fit(struct hello *h)
{
	one_byte_records_of(h, SNIFF_MAX_PEEK / 6);	/* 2730: 16380 octets */
}

static void b_small_records_overflow(struct hello *h)
{
	one_byte_records_of(h, SNIFF_MAX_PEEK / 6 + 1);	/* 16386 octets */
}

static void b_legacy_ssl3(struct hello *h)
{
	hello_start_with(h, 0x0300, 32, 6, 1);
	exts_start(h);
	ext_sni(h, NAME);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_legacy_2_0(struct hello *h)
{
	hello_start_with(h, 0x0200, 32, 6, 1);
	exts_start(h);
	ext_sni(h, NAME);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_legacy_3_5(struct hello *h)
{
	hello_start_with(h, 0x0305, 32, 6, 1);
	exts_start(h);
	ext_sni(h, NAME);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

/* A hello with the given fixed fields and one server_name. */
static void fields(struct hello *h, size_t sid, size_t cipher_octets, size_t comp)
{
	hello_start_with(h, 0x0303, sid, cipher_octets, comp);
	exts_start(h);
	ext_sni(h, NAME);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_sid_0(struct hello *h) { fields(h, 0, 6, 1); }
static void b_sid_33(struct hello *h) { fields(h, 33, 6, 1); }
static void b_ciphers_0(struct hello *h) { fields(h, 32, 0, 1); }
static void b_ciphers_odd(struct hello *h) { fields(h, 32, 5, 1); }
static void b_ciphers_one(struct hello *h) { fields(h, 32, 2, 1); }
static void b_comp_0(struct hello *h) { fields(h, 32, 6, 0); }
static void b_comp_2(struct hello *h) { fields(h, 32, 6, 2); }

static void b_no_extensions(struct hello *h)
{
	hello_start(h);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_empty_extensions(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_stray_octet(struct hello *h)
{
	hello_start(h);
	put8(h, 0);	/* one octet where a 2-octet block length would be */
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_body_short(struct hello *h)
{
	hello_start(h);
	h->len = 4 + 20;	/* cut inside random */
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_no_sni(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	exts_before(h);
	exts_after(h);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_dup_ext(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	exts_before(h);
	ext_fill(h, EXT_SUPPORTED_GROUPS, 0, 4);
	ext_sni(h, NAME);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_dup_sni(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	ext_sni(h, NAME);
	ext_sni(h, NAME);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_dup_after_sni(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	ext_sni(h, NAME);
	exts_after(h);
	ext_fill(h, EXT_PSK_MODES, 1, 2);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_ext_header_cut(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	ext_sni(h, NAME);
	put_bytes(h, "\x00\x2b\x00", 3);	/* type and half a length */
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_ext_past_block(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	ext_sni(h, NAME);
	put_bytes(h, "\x00\x2b\x00\x09\x04\x03", 6);	/* 9 announced, 2 there */
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_bad_after_sni(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	ext_sni(h, NAME);
	exts_after(h);
	put_bytes(h, "\x00\x42\x00\x05\x04\x03", 6);
	ext_fill(h, EXT_PADDING, 0, 1);	/* swallowed by the lie above: the block ends short */
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

/* An encrypted_client_hello extension with a payload that is no valid ECH. */
static void ext_ech(struct hello *h)
{
	uint8_t payload[200];

	srandom(8446);
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)random();
	ext_raw(h, EXT_ECH, payload, sizeof payload);
}

static void b_ech_after_sni(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	exts_before(h);
	ext_sni(h, "public.example.net");
	ext_ech(h);
	exts_after(h);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_ech_before_sni(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	ext_ech(h);
	ext_sni(h, "public.example.net");
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_ech_alone(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	ext_ech(h);
	exts_after(h);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_grease(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	ext_fill(h, 0x0a0a, 0, 0);
	exts_before(h);
	ext_sni(h, NAME);
	exts_after(h);
	ext_fill(h, 0xfafa, 0, 1);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_unknown_exts(struct hello *h)
{
	hello_start(h);
	exts_start(h);
	ext_fill(h, 0xffff, 0x42, 300);
	ext_fill(h, 0x1234, 0x16, 0);
	ext_sni(h, NAME);
	ext_fill(h, 0x4321, 0x03, 17);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

/* server_name whose extension data is exactly data[0..len). */
static void sni_raw(struct hello *h, const void *data, size_t len)
{
	hello_start(h);
	exts_start(h);
	exts_before(h);
	ext_raw(h, 0, data, len);
	exts_after(h);
	hello_end(h);
	wrap(h, 0, REC_TLS10);
}

static void b_sni_empty_list(struct hello *h) { sni_raw(h, "\x00\x00", 2); }
static void b_sni_no_list(struct hello *h) { sni_raw(h, "", 0); }
static void b_sni_one_octet(struct hello *h) { sni_raw(h, "\x00", 1); }
static void b_sni_list_short(struct hello *h) { sni_raw(h, "\x00\x05\x00\x00\x03" "a.b" "x", 9); }
static void b_sni_list_long(struct hello *h) { sni_raw(h, "\x00\x07\x00\x00\x03" "a.b", 8); }
static void b_sni_entry_cut(struct hello *h) { sni_raw(h, "\x00\x02\x00\x00", 4); }
static void b_sni_empty_host(struct hello *h) { sni_raw(h, "\x00\x03\x00\x00\x00", 5); }
static void b_sni_other_type(struct hello *h) { sni_raw(h, "\x00\x06\x01\x00\x03" "a.b", 8); }
static void b_sni_other_empty(struct hello *h) { sni_raw(h, "\x00\x03\x01\x00\x00", 5); }

static void b_sni_host_then_other(struct hello *h)
{
	sni_raw(h, "\x00\x0e\x00\x00\x05" "a.com" "\x07\x00\x03" "b.c", 16);
}

static void b_sni_other_then_host(struct hello *h)
{
	sni_raw(h, "\x00\x0e\x07\x00\x03" "b.c" "\x00\x00\x05" "a.com", 16);
}

static void b_sni_two_hosts(struct hello *h)
{
	sni_raw(h, "\x00\x10\x00\x00\x05" "a.com" "\x00\x00\x05" "b.com", 18);
}

static void b_sni_same_host_twice(struct hello *h)
{
	sni_raw(h, "\x00\x10\x00\x00\x05" "a.com" "\x00\x00\x05" "a.com", 18);
}

static void b_sni_two_hosts_one_bad(struct hello *h)
{
	sni_raw(h, "\x00\x12\x00\x00\x05" "a.com" "\x00\x00\x07" "1.2.3.4", 20);
}

/* A label of n octets of 'a', then ".example". */
static void long_label(struct hello *h, size_t n)
{
	char name[128];

	memset(name, 'a', n);
	strcpy(name + n, ".example");
	hello_named(h, name);
	wrap(h, 0, REC_TLS10);
}

static void b_label_63(struct hello *h) { long_label(h, 63); }
static void b_label_64(struct hello *h) { long_label(h, 64); }

/* A name of n octets: labels of 9 'a's and dots, then the given tail. */
static void long_name(struct hello *h, size_t n, const char *tail)
{
	char name[300];
	size_t fill = n - strlen(tail);

	for (size_t i = 0; i < fill; i++)
		name[i] = i % 10 == 9 ? '.' : 'a';
	strcpy(name + fill, tail);
	hello_named(h, name);
	wrap(h, 0, REC_TLS10);
}

static void b_name_253(struct hello *h) { long_name(h, 253, ".example"); }
static void b_name_253_dot(struct hello *h) { long_name(h, 254, ".example."); }
static void b_name_254(struct hello *h) { long_name(h, 254, ".example"); }

#define NAMED(fn, text) \
	static void fn(struct hello *h) \
	{ \
		hello_named_len(h, text, sizeof text - 1); \
		wrap(h, 0, REC_TLS10); \
	}
NAMED(b_name_upper, "WWW.Example.COM")
NAMED(b_name_dot, "www.example.com.")
NAMED(b_name_two_dots, "www.example.com..")
NAMED(b_name_ipv4, "192.0.2.1")
NAMED(b_name_ipv4_short, "127.1")
NAMED(b_name_hex, "0x7f000001")
NAMED(b_name_ipv6, "2001:db8::1")
NAMED(b_name_ipv6_brackets, "[::1]")
NAMED(b_name_nul, "www.exa\0mple.com")
NAMED(b_name_nul_end, "www.example.com\0")
NAMED(b_name_empty_label, "www..example.com")
NAMED(b_name_hyphen, "-www.example.com")
NAMED(b_name_underscore, "_acme.example.com")
NAMED(b_name_space, "www example.com")
NAMED(b_name_utf8, "b\xc3\xbc" "cher.example")
NAMED(b_name_punycode, "xn--bcher-kva.example")
NAMED(b_name_port, "www.example.com:443")
NAMED(b_name_dot_only, ".")

struct hello_case {
	const char *what;
	void (*build)(struct hello *);
	int status;
	const char *name;
	unsigned version;	/* tls_version expected */
};

static const struct hello_case hello_cases[] = {
	{ "plain", b_plain, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "record 3.3", b_record_tls12, SNIFF_FOUND, NAME, 0x0303 },
	{ "record 3.0", b_record_ssl3, SNIFF_FOUND, NAME, 0x0300 },
	{ "record 3.4", b_record_tls13, SNIFF_FOUND, NAME, 0x0304 },
	{ "record 3.5", b_record_3_5, SNIFF_MALFORMED, NULL, 0 },
	{ "record 2.0", b_record_2_0, SNIFF_MALFORMED, NULL, 0 },
	{ "3 records", b_three_records, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "1-byte records", b_one_byte_records, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "7-byte records", b_seven_byte_records, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "empty record between", b_empty_record_between, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "change_cipher_spec between", b_ccs_between, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "alert between", b_alert_between, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "change_cipher_spec after", b_ccs_after, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "early data after", b_early_data_after, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "garbage after", b_garbage_after, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "octet after the hello in its record", b_trailing_in_record, SNIFF_MALFORMED, NULL,
	  REC_TLS10 },
	{ "message after the hello in its record", b_next_message_in_record, SNIFF_MALFORMED,
	  NULL, REC_TLS10 },
	{ "record of 16385", b_record_too_long, SNIFF_MALFORMED, NULL, 0 },
	{ "record of 16384", b_record_max_header, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "ServerHello", b_server_hello, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "hello over 16 KiB", b_hs_too_long, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "hello of 16 MiB", b_hs_huge, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "exactly 16 KiB", b_fits_exactly, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "16 KiB and one", b_one_octet_too_many, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "1-byte records in 16 KiB", b_small_records_fit, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "1-byte records past 16 KiB", b_small_records_overflow, SNIFF_MALFORMED, NULL,
	  REC_TLS10 },
	{ "legacy_version 3.0", b_legacy_ssl3, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "legacy_version 2.0", b_legacy_2_0, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "legacy_version 3.5", b_legacy_3_5, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "session_id empty", b_sid_0, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "session_id of 33", b_sid_33, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "no cipher suite", b_ciphers_0, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "odd cipher suites", b_ciphers_odd, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "one cipher suite", b_ciphers_one, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "no compression method", b_comp_0, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "two compression methods", b_comp_2, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "no extensions", b_no_extensions, SNIFF_NO_NAME, NULL, REC_TLS10 },
	{ "empty extensions", b_empty_extensions, SNIFF_NO_NAME, NULL, REC_TLS10 },
	{ "one octet after compression", b_stray_octet, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "body cut in random", b_body_short, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "no server_name", b_no_sni, SNIFF_NO_NAME, NULL, REC_TLS10 },
	{ "duplicate extension", b_dup_ext, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "duplicate server_name", b_dup_sni, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "duplicate after server_name", b_dup_after_sni, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "extension header cut", b_ext_header_cut, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "extension past the block", b_ext_past_block, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "bad extension after server_name", b_bad_after_sni, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "ECH after outer server_name", b_ech_after_sni, SNIFF_FOUND, "public.example.net",
	  REC_TLS10 },
	{ "ECH before outer server_name", b_ech_before_sni, SNIFF_FOUND, "public.example.net",
	  REC_TLS10 },
	{ "ECH without server_name", b_ech_alone, SNIFF_NO_NAME, NULL, REC_TLS10 },
	{ "GREASE extensions", b_grease, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "unknown extensions", b_unknown_exts, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "server_name empty list", b_sni_empty_list, SNIFF_NO_NAME, NULL, REC_TLS10 },
	{ "server_name without list", b_sni_no_list, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "server_name of one octet", b_sni_one_octet, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "server_name list short", b_sni_list_short, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "server_name list long", b_sni_list_long, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "server_name entry cut", b_sni_entry_cut, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "server_name empty host_name", b_sni_empty_host, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "server_name other type only", b_sni_other_type, SNIFF_NO_NAME, NULL, REC_TLS10 },
	{ "server_name other type empty", b_sni_other_empty, SNIFF_MALFORMED, NULL, REC_TLS10 },
	{ "host_name then other type", b_sni_host_then_other, SNIFF_FOUND, "a.com", REC_TLS10 },
	{ "other type then host_name", b_sni_other_then_host, SNIFF_FOUND, "a.com", REC_TLS10 },
	{ "two host_names", b_sni_two_hosts, SNIFF_AMBIGUOUS, NULL, REC_TLS10 },
	{ "one host_name twice", b_sni_same_host_twice, SNIFF_AMBIGUOUS, NULL, REC_TLS10 },
	{ "two host_names, one bad", b_sni_two_hosts_one_bad, SNIFF_AMBIGUOUS, NULL, REC_TLS10 },
	{ "label of 63", b_label_63, SNIFF_FOUND,
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", REC_TLS10 },
	{ "label of 64", b_label_64, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "name of 253", b_name_253, SNIFF_FOUND, NULL, REC_TLS10 },
	{ "name of 253 and a dot", b_name_253_dot, SNIFF_FOUND, NULL, REC_TLS10 },
	{ "name of 254", b_name_254, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "upper case", b_name_upper, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "trailing dot", b_name_dot, SNIFF_FOUND, NAME, REC_TLS10 },
	{ "two trailing dots", b_name_two_dots, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "IPv4 literal", b_name_ipv4, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "short IPv4 literal", b_name_ipv4_short, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "hex IPv4 literal", b_name_hex, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "IPv6 literal", b_name_ipv6, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "bracketed IPv6", b_name_ipv6_brackets, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "NUL inside", b_name_nul, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "NUL at the end", b_name_nul_end, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "empty label", b_name_empty_label, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "leading hyphen", b_name_hyphen, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "underscore", b_name_underscore, SNIFF_FOUND, "_acme.example.com", REC_TLS10 },
	{ "space", b_name_space, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "raw UTF-8", b_name_utf8, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "punycode", b_name_punycode, SNIFF_FOUND, "xn--bcher-kva.example", REC_TLS10 },
	{ "name with a port", b_name_port, SNIFF_BAD_NAME, NULL, REC_TLS10 },
	{ "name \".\"", b_name_dot_only, SNIFF_BAD_NAME, NULL, REC_TLS10 },
};
#define NHELLO (int)(sizeof hello_cases / sizeof hello_cases[0])

/* Streams big cases through a few prefixes only: every one would take seconds under ASan. */
#define STREAM_MAX 4096

START_TEST(test_hello_table)
{
	const struct hello_case *c = &hello_cases[_i];
	static struct hello h;
	struct sniff_result out;
	int status;

	c->build(&h);
	if (h.len <= STREAM_MAX) {
		kit_stream(tls_hello_name, c->what, h.b, h.len, c->status, c->name);
		kit_stream(sniff_name, c->what, h.b, h.len, c->status, c->name);
	}
	status = kit_call(tls_hello_name, h.b, h.len, &out);
	ck_assert_msg(status == c->status, "%s: %s, want %s", c->what, kit_status(status),
		      kit_status(c->status));
	if (c->status == SNIFF_FOUND && c->name != NULL)
		ck_assert_str_eq(out.name, c->name);
	else if (c->status == SNIFF_FOUND)	/* the names of 253: too long for the table */
		ck_assert_uint_eq(strlen(out.name), SNIFF_NAME_MAX);
	ck_assert_int_eq(out.proto, SNIFF_PROTO_TLS);
	ck_assert_msg(out.tls_version == c->version, "%s: tls_version %04x, want %04x", c->what,
		      out.tls_version, c->version);
	kit_extended(tls_hello_name, c->what, h.b, h.len);
}
END_TEST

/* Where a big case decides: the over-long hellos as soon as their lengths are read. */
START_TEST(test_decided_early)
{
	static struct hello h;
	struct sniff_result out;

	b_one_octet_too_many(&h);
	ck_assert_int_eq(kit_call(tls_hello_name, h.b, 9, &out), SNIFF_MALFORMED);
	ck_assert_int_eq(kit_call(tls_hello_name, h.b, 8, &out), SNIFF_NEED_MORE);
	b_fits_exactly(&h);
	for (size_t k = 0; k < h.len; k += 97)
		ck_assert_int_eq(kit_call(tls_hello_name, h.b, k, &out), SNIFF_NEED_MORE);
	ck_assert_int_eq(kit_call(tls_hello_name, h.b, h.len - 1, &out), SNIFF_NEED_MORE);
	/* a record header of 16384 is fine until the hello's length says it cannot fit */
	b_record_max_header(&h);
	ck_assert_int_eq(kit_call(tls_hello_name, h.b, 8, &out), SNIFF_NEED_MORE);
	ck_assert_int_eq(kit_call(tls_hello_name, h.b, 9, &out), SNIFF_MALFORMED);
	/*
	 * 2731 octets in 1-byte records need 16386 octets of input. After 2729
	 * records and the next header (16379 octets), two records more are
	 * needed: 16386. One octet earlier, one record holding both could still do.
	 */
	b_small_records_overflow(&h);
	ck_assert_int_eq(kit_call(tls_hello_name, h.b, 16378, &out), SNIFF_NEED_MORE);
	ck_assert_int_eq(kit_call(tls_hello_name, h.b, 16379, &out), SNIFF_MALFORMED);
	b_small_records_fit(&h);
	ck_assert_int_eq(kit_call(tls_hello_name, h.b, h.len - 1, &out), SNIFF_NEED_MORE);
	ck_assert_int_eq(kit_call(tls_hello_name, h.b, h.len, &out), SNIFF_FOUND);
}
END_TEST

/* The hello in records of every size from 1 octet to the whole. */
START_TEST(test_every_fragment_size)
{
	static struct hello h;
	static uint8_t wire[WIRE_MAX];
	struct sniff_result out;

	hello_named(&h, NAME);
	for (size_t frag = 1; frag <= h.len; frag++) {
		size_t len = kit_records(h.b, h.len, frag, REC_TLS10, wire, sizeof wire);

		ck_assert_msg(kit_call(tls_hello_name, wire, len, &out) == SNIFF_FOUND,
			      "records of %zu", frag);
		ck_assert_str_eq(out.name, NAME);
		ck_assert_int_eq(kit_call(tls_hello_name, wire, len - 1, &out), SNIFF_NEED_MORE);
	}
}
END_TEST

/* ---- every length field +1 and -1 ---- */

struct lie_case {
	enum field field;
	const char *what;
};

static const struct lie_case lie_cases[] = {
	{ F_RECORD, "record" }, { F_HS, "handshake" }, { F_SID, "session_id" },
	{ F_CIPHERS, "cipher_suites" }, { F_COMP, "compression_methods" },
	{ F_EXTS, "extensions block" }, { F_SNI_EXT, "server_name extension" },
	{ F_SNI_LIST, "server_name_list" }, { F_HOST, "host_name" },
};
#define NLIE (int)(sizeof lie_cases / sizeof lie_cases[0])

START_TEST(test_lies)
{
	static const int deltas[] = { +1, -1 };
	const struct lie_case *c = &lie_cases[_i];
	static struct hello h;
	char what[64];

	for (size_t d = 0; d < sizeof deltas / sizeof deltas[0]; d++) {
		snprintf(what, sizeof what, "%s length %+d", c->what, deltas[d]);
		hello_named(&h, NAME);
		wrap(&h, 0, REC_TLS10);
		lie(&h, c->field, deltas[d]);
		kit_stream(tls_hello_name, what, h.b, h.len, SNIFF_MALFORMED, NULL);
		kit_extended(tls_hello_name, what, h.b, h.len);
	}
}
END_TEST

/* The same lies when the hello comes in 3-byte records: caught all the same. */
START_TEST(test_lies_fragmented)
{
	static const int deltas[] = { +1, -1 };
	const struct lie_case *c = &lie_cases[_i];
	static struct hello h;
	static uint8_t wire[WIRE_MAX];
	char what[64];

	if (c->field == F_RECORD)
		return;		/* the record lies of 3-byte records: test_record_lies */
	for (size_t d = 0; d < sizeof deltas / sizeof deltas[0]; d++) {
		size_t len;

		snprintf(what, sizeof what, "%s length %+d in 3-byte records", c->what, deltas[d]);
		hello_named(&h, NAME);
		wrap(&h, 0, REC_TLS10);
		lie(&h, c->field, deltas[d]);
		len = kit_records(h.b + 5, h.len - 5, 3, REC_TLS10, wire, sizeof wire);
		kit_stream(tls_hello_name, what, wire, len, SNIFF_MALFORMED, NULL);
	}
}
END_TEST

/* One record of a fragmented hello declaring one octet more or less. */
START_TEST(test_record_lies)
{
	static struct hello h;
	char what[64];

	for (size_t rec = 0; rec < 4; rec++) {
		for (int delta = -1; delta <= 1; delta += 2) {
			hello_named(&h, NAME);
			wrap(&h, 50, REC_TLS10);	/* 4 records: 50, 50, 50, 28 */
			h.at[F_RECORD] = rec * 55 + 3;
			lie(&h, F_RECORD, delta);
			snprintf(what, sizeof what, "record %zu length %+d", rec, delta);
			kit_stream(tls_hello_name, what, h.b, h.len, SNIFF_MALFORMED, NULL);
		}
	}
}
END_TEST

/* ---- corruption: any octet of valid hellos set to awkward values ---- */

static void (*const valid_builds[])(struct hello *) = {
	b_plain, b_three_records, b_ech_after_sni, b_grease, b_sni_host_then_other,
};
#define NVALID (int)(sizeof valid_builds / sizeof valid_builds[0])

START_TEST(test_corruptions)
{
	static const uint8_t values[] = { 0x00, 0x01, 0x02, 0x03, 0x16, 0x20, 0x2e, 0x7f, 0x80,
					  0xfe, 0xff };
	static struct hello h, bad;
	struct sniff_result out;

	valid_builds[_i](&h);
	for (size_t pos = 0; pos < h.len; pos++) {
		for (size_t v = 0; v <= sizeof values; v++) {
			memcpy(bad.b, h.b, h.len);
			bad.b[pos] = v < sizeof values ? values[v] : (uint8_t)(h.b[pos] ^ 0x20);
			kit_call(tls_hello_name, bad.b, h.len, &out);
			kit_extended(tls_hello_name, "corrupted", bad.b, h.len);
		}
	}
}
END_TEST

START_TEST(test_not_tls)
{
	static const uint8_t sslv2[] = { 0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00 };
	struct sniff_result out;

	ck_assert_int_eq(kit_call(tls_hello_name, sslv2, sizeof sslv2, &out), SNIFF_NOT_THIS);
	ck_assert_int_eq(kit_call(tls_hello_name, (const uint8_t *)"GET /", 5, &out),
			 SNIFF_NOT_THIS);
	ck_assert_int_eq(kit_call(tls_hello_name, (const uint8_t *)"\x15\x03\x01", 3, &out),
			 SNIFF_NOT_THIS);
	ck_assert_int_eq(kit_call(tls_hello_name, NULL, 0, &out), SNIFF_NEED_MORE);
	ck_assert_int_eq(out.proto, SNIFF_PROTO_NONE);
	ck_assert_int_eq(tls_hello_name((const uint8_t *)"\x16", 1, NULL), SNIFF_NOT_THIS);
	ck_assert_int_eq(tls_hello_name(NULL, 5, &out), SNIFF_NEED_MORE);	/* NULL: empty */
	ck_assert_int_eq(kit_call(tls_hello_name, (const uint8_t *)"\x16", 1, &out),
			 SNIFF_NEED_MORE);
	ck_assert_int_eq(out.proto, SNIFF_PROTO_TLS);
	ck_assert_uint_eq(out.tls_version, 0);
}
END_TEST

Suite *tls_hello_suite(void)
{
	Suite *suite = suite_create("tls_hello");
	TCase *tc;

	tc = tcase_create("table");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_hello_table, 0, NHELLO);
	tcase_add_test(tc, test_decided_early);
	tcase_add_test(tc, test_every_fragment_size);
	tcase_add_test(tc, test_not_tls);
	suite_add_tcase(suite, tc);

	tc = tcase_create("lies");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_lies, 0, NLIE);
	tcase_add_loop_test(tc, test_lies_fragmented, 0, NLIE);
	tcase_add_test(tc, test_record_lies);
	suite_add_tcase(suite, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_corruptions, 0, NVALID);
	suite_add_tcase(suite, tc);
	return suite;
}
