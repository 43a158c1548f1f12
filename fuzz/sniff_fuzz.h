/*
 * fuzz/sniff_fuzz.h: the contracts of routed mode's peekers (sniff.h) as
 * checks that abort(), shared by fuzz/fuzz_tls_hello.c,
 * fuzz/fuzz_http_head.c and fuzz/fuzz_sniff.c; and their seed writer.
 *
 * - fuzz_check_name: an independent reading of "a valid normalized name"
 *   (not a call to sniff_normalize_name, which fuzz_sniff.c checks).
 * - fuzz_call: one call on a heap copy of the exact size, out poisoned
 *   first; the answer's contract (status, name, proto, tls_version).
 * - fuzz_check_prefixes: prefixes of the input, cut at a sample of points
 *   (all of them for short inputs), answer NEED_MORE up to some cut and
 *   the same final answer from there on; longer buffers keep it too.
 * - fuzz_write_seeds: real captures from t/captures (fuzz/run.sh runs from
 *   the repository root), for the FUZZ_WRITE_SEEDS hook.
 */
#ifndef WHITELIST_FUZZ_SNIFF_FUZZ_H
#define WHITELIST_FUZZ_SNIFF_FUZZ_H

#include "sniff.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ALL_PREFIXES 64	/* inputs up to this size: every prefix */
#define FUZZ_CUTS 40		/* longer ones: this many cut points */
#define FUZZ_TAIL 64

typedef int (*fuzz_parser)(const uint8_t *data, size_t len, struct sniff_result *out);

/* The last label may not read as a number: all digits, or 0x and hex digits. */
static int fuzz_numeric_label(const char *label, size_t n)
{
	size_t i = 0, digits = 0;
	int hex = n >= 2 && label[0] == '0' && label[1] == 'x';

	for (i = hex ? 2 : 0; i < n; i++)
		digits += (label[i] >= '0' && label[i] <= '9') ||
			  (hex && label[i] >= 'a' && label[i] <= 'f');
	return digits == n - (hex ? 2 : 0);
}

/* Whether name[0..len) is a valid name in normalized form (sniff.h). */
static int fuzz_valid_name(const char *name, size_t len)
{
	size_t start = 0;

	if (len < 1 || len > SNIFF_NAME_MAX)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		size_t n = i - start;

		if (i < len && name[i] != '.') {
			char c = name[i];

			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			      c == '_'))
				return 0;
			continue;
		}
		if (n < 1 || n > 63 || name[start] == '-' || name[i - 1] == '-')
			return 0;
		if (i == len && fuzz_numeric_label(name + start, n))
			return 0;
		start = i + 1;
	}
	return 1;
}

static void fuzz_check_name(const struct sniff_result *out)
{
	const char *nul = memchr(out->name, '\0', sizeof out->name);

	if (nul == NULL)
		abort();	/* not NUL-terminated inside the array */
	if (!fuzz_valid_name(out->name, (size_t)(nul - out->name)))
		abort();
}

/* One call on an exact-size copy, and the contract of its answer. */
static int fuzz_call(fuzz_parser parse, const uint8_t *data, size_t len, struct sniff_result *out)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int status;

	if (copy == NULL)
		abort();
	if (len > 0)
		memcpy(copy, data, len);
	memset(out, 0xa5, sizeof *out);
	status = parse(len > 0 ? copy : NULL, len, out);
	free(copy);
	if (status < SNIFF_MALFORMED || status > SNIFF_FOUND)
		abort();
	if (status == SNIFF_FOUND)
		fuzz_check_name(out);
	else if (out->name[0] != '\0')
		abort();	/* a name without SNIFF_FOUND */
	if (out->proto != SNIFF_PROTO_NONE && out->proto != SNIFF_PROTO_TLS &&
	    out->proto != SNIFF_PROTO_HTTP)
		abort();
	if (status == SNIFF_NOT_THIS && out->proto != SNIFF_PROTO_NONE)
		abort();
	if (status == SNIFF_MALFORMED && out->proto == SNIFF_PROTO_NONE)
		abort();	/* malformed names its protocol: routed mode answers in it */
	if (out->tls_version != 0 &&
	    (out->proto != SNIFF_PROTO_TLS || out->tls_version < 0x0300 || out->tls_version > 0x0304))
		abort();
	return status;
}

static int fuzz_same(int status, const struct sniff_result *a, int status_b,
		     const struct sniff_result *b)
{
	return status == status_b && strcmp(a->name, b->name) == 0;
}

/* xorshift, seeded by the input: the same input always cuts at the same points */
static uint32_t fuzz_next(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static int fuzz_cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Longer buffers starting with data[0..len) keep a final answer. */
static void fuzz_check_longer(fuzz_parser parse, const uint8_t *data, size_t len, int status,
			      const struct sniff_result *out)
{
	static const uint8_t fills[] = { 0x00, 0x16, 0xff, '\n' };
	struct sniff_result more;
	uint8_t *buf;

	if (status == SNIFF_NEED_MORE)
		return;
	buf = malloc(len + FUZZ_TAIL);
	if (buf == NULL)
		abort();
	memcpy(buf, data, len);
	for (size_t i = 0; i <= sizeof fills; i++) {
		for (size_t j = 0; j < FUZZ_TAIL; j++)
			buf[len + j] = i < sizeof fills ? fills[i] : (uint8_t)(j * 37);
		if (!fuzz_same(fuzz_call(parse, buf, len + FUZZ_TAIL, &more), &more, status, out))
			abort();	/* more bytes changed a final answer */
	}
	free(buf);
}

/* Prefixes: NEED_MORE up to some cut, then one final answer. */
static void fuzz_check_prefixes(fuzz_parser parse, const uint8_t *data, size_t len)
{
	size_t cuts[FUZZ_CUTS + FUZZ_ALL_PREFIXES + 2], ncuts = 0;
	struct sniff_result out, first;
	int first_status = SNIFF_NEED_MORE;
	uint32_t state = 2166136261u;

	for (size_t i = 0; i < len && i < 256; i++)
		state = (state ^ data[i]) * 16777619u;
	state |= 1;
	for (size_t k = 0; k <= len && k <= FUZZ_ALL_PREFIXES; k++)
		cuts[ncuts++] = k;
	if (len > FUZZ_ALL_PREFIXES) {
		for (size_t i = 0; i < FUZZ_CUTS; i++)
			cuts[ncuts++] = FUZZ_ALL_PREFIXES + fuzz_next(&state) % (len - FUZZ_ALL_PREFIXES);
		cuts[ncuts++] = len;
	}
	qsort(cuts, ncuts, sizeof cuts[0], fuzz_cmp_size);
	for (size_t i = 0; i < ncuts; i++) {
		int status = fuzz_call(parse, data, cuts[i], &out);

		if (first_status == SNIFF_NEED_MORE) {
			first_status = status;
			first = out;
		} else if (!fuzz_same(status, &out, first_status, &first)) {
			abort();	/* a final answer changed with more bytes */
		}
	}
	fuzz_check_longer(parse, data, len, first_status, &first);
}

/* Writes every t/captures/NAME.bin whose first byte is wanted (-1: any) as a seed. */
static void fuzz_write_seeds(const char *dir, int first_byte)
{
	static uint8_t buf[SNIFF_MAX_PEEK * 2];
	DIR *captures = opendir("t/captures");
	struct dirent *entry;

	if (captures == NULL)
		return;
	while ((entry = readdir(captures)) != NULL) {
		char path[1024];
		size_t len;
		FILE *file;

		if (strstr(entry->d_name, ".bin") == NULL)
			continue;
		snprintf(path, sizeof path, "t/captures/%s", entry->d_name);
		file = fopen(path, "rb");
		if (file == NULL)
			continue;
		len = fread(buf, 1, sizeof buf, file);
		fclose(file);
		if (len == 0 || (first_byte >= 0 && buf[0] != first_byte))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
		file = fopen(path, "wb");
		if (file == NULL)
			abort();
		fwrite(buf, 1, len, file);
		fclose(file);
	}
	closedir(captures);
}

/* Writes data[0..len) to dir/name. */
static void fuzz_write_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[1024];
	FILE *file;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	file = fopen(path, "wb");
	if (file == NULL || fwrite(data, 1, len, file) != len)
		abort();
	fclose(file);
}

/*
 * A ClientHello message into msg: one cipher suite, server_name with the
 * list sni[0..sni_len) when sni_len > 0, then an extension of type
 * ext_type with pad octets of fill. Returns its size.
 */
static size_t fuzz_hello(uint8_t *msg, const char *sni, size_t sni_len, unsigned ext_type,
			 size_t pad, uint8_t fill)
{
	static const uint8_t fixed[] = { 3, 3 };
	size_t len = 4, exts;

	memcpy(msg + len, fixed, 2);
	memset(msg + len + 2, 0x42, 32);
	len += 34;
	memcpy(msg + len, "\x00\x00\x02\x13\x01\x01\x00", 7);	/* session_id, suites, null */
	len += 7;
	exts = len;
	len += 2;
	if (sni_len > 0) {
		memcpy(msg + len, "\x00\x00", 2);
		msg[len + 2] = (uint8_t)(sni_len >> 8);
		msg[len + 3] = (uint8_t)sni_len;
		memcpy(msg + len + 4, sni, sni_len);
		len += 4 + sni_len;
	}
	msg[len] = (uint8_t)(ext_type >> 8);
	msg[len + 1] = (uint8_t)ext_type;
	msg[len + 2] = (uint8_t)(pad >> 8);
	msg[len + 3] = (uint8_t)pad;
	memset(msg + len + 4, fill, pad);
	len += 4 + pad;
	msg[exts] = (uint8_t)((len - exts - 2) >> 8);
	msg[exts + 1] = (uint8_t)(len - exts - 2);
	msg[0] = 1;
	msg[1] = (uint8_t)((len - 4) >> 16);
	msg[2] = (uint8_t)((len - 4) >> 8);
	msg[3] = (uint8_t)(len - 4);
	return len;
}

/*
 * Built hellos as seeds, the corners captures do not reach: two
 * host_names, ECH, a hello that only fits in 16 KiB in big records. With
 * a leading record-size octet (fuzz_tls_hello.c's second reading) when
 * framed is set, else as one record on the wire.
 */
static void fuzz_write_tls_seeds(const char *dir, int framed)
{
	static const char two[] = "\x00\x10\x00\x00\x05" "a.com" "\x00\x00\x05" "b.com";
	static const char one[] = "\x00\x10\x00\x00\x0d" "www.a.example";
	static uint8_t buf[8192];
	static const struct { const char *name; const char *sni; size_t sni_len; unsigned type;
			      size_t pad; uint8_t frag; } seeds[] = {
		{ "two_hosts", two, sizeof two - 1, 0x002b, 3, 0 },
		{ "ech", one, sizeof one - 1, 0xfe0d, 90, 5 },
		{ "big", one, sizeof one - 1, 0x0015, 3000, 1 },
	};

	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		size_t len = fuzz_hello(buf + 5, seeds[i].sni, seeds[i].sni_len, seeds[i].type,
					seeds[i].pad, seeds[i].type == 0xfe0d ? 0x99 : 0);

		if (framed) {
			buf[4] = seeds[i].frag;
			fuzz_write_file(dir, seeds[i].name, buf + 4, len + 1);
			continue;
		}
		memcpy(buf, "\x16\x03\x01", 3);
		buf[3] = (uint8_t)(len >> 8);
		buf[4] = (uint8_t)len;
		fuzz_write_file(dir, seeds[i].name, buf, len + 5);
	}
}

#endif
