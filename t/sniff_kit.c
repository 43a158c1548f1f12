/*
 * t/sniff_kit.c: helpers of the peekers' Check suites (see sniff_kit.h).
 */
#include "sniff_kit.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CAPTURE_DIR
#define CAPTURE_DIR "t/captures"
#endif

#define KIT_POISON 0xa5
#define KIT_TAIL 300

const char *kit_status(int status)
{
	switch (status) {
	case SNIFF_FOUND: return "FOUND";
	case SNIFF_NEED_MORE: return "NEED_MORE";
	case SNIFF_NO_NAME: return "NO_NAME";
	case SNIFF_AMBIGUOUS: return "AMBIGUOUS";
	case SNIFF_BAD_NAME: return "BAD_NAME";
	case SNIFF_NOT_THIS: return "NOT_THIS";
	case SNIFF_MALFORMED: return "MALFORMED";
	default: return "(unknown status)";
	}
}

static void kit_check_name(const struct sniff_result *out)
{
	char again[SNIFF_NAME_SIZE];
	const char *nul = memchr(out->name, '\0', sizeof out->name);
	size_t len;

	ck_assert_msg(nul != NULL, "FOUND name not NUL-terminated inside the array");
	len = (size_t)(nul - out->name);
	ck_assert_msg(len >= 1 && len <= SNIFF_NAME_MAX, "FOUND name of %zu chars", len);
	ck_assert_msg(sniff_normalize_name(out->name, len, again, sizeof again) == 0,
		      "FOUND name \"%s\" is not valid", out->name);
	ck_assert_msg(strcmp(again, out->name) == 0, "FOUND name \"%s\" is not normalized",
		      out->name);
}

int kit_call(kit_parser parse, const uint8_t *data, size_t len, struct sniff_result *out)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int status;

	ck_assert_ptr_nonnull(copy);
	if (len > 0)
		memcpy(copy, data, len);
	memset(out, KIT_POISON, sizeof *out);
	status = parse(len > 0 ? copy : NULL, len, out);
	free(copy);
	ck_assert_msg(status >= SNIFF_MALFORMED && status <= SNIFF_FOUND, "status %d", status);
	if (status == SNIFF_FOUND)
		kit_check_name(out);
	else
		ck_assert_msg(out->name[0] == '\0', "%s with a name", kit_status(status));
	if (status == SNIFF_NOT_THIS)
		ck_assert_int_eq(out->proto, SNIFF_PROTO_NONE);
	else if (len > 0)
		ck_assert(out->proto == SNIFF_PROTO_TLS || out->proto == SNIFF_PROTO_HTTP);
	if (out->proto != SNIFF_PROTO_TLS)
		ck_assert_uint_eq(out->tls_version, 0);
	return status;
}

size_t kit_stream(kit_parser parse, const char *what, const uint8_t *data, size_t len, int want,
		  const char *want_name)
{
	struct sniff_result out;
	char first_name[SNIFF_NAME_SIZE] = "";
	size_t first = len + 1;

	for (size_t k = 0; k <= len; k++) {
		int status = kit_call(parse, data, k, &out);

		if (first > len) {
			if (status == SNIFF_NEED_MORE)
				continue;
			first = k;
			ck_assert_msg(status == want, "%s: prefix of %zu/%zu bytes says %s, want %s",
				      what, k, len, kit_status(status), kit_status(want));
			memcpy(first_name, out.name, sizeof first_name);
			continue;
		}
		ck_assert_msg(status == want && strcmp(out.name, first_name) == 0,
			      "%s: final %s \"%s\" at %zu bytes, then %s \"%s\" at %zu", what,
			      kit_status(want), first_name, first, kit_status(status), out.name, k);
	}
	if (want == SNIFF_NEED_MORE)
		return first;
	ck_assert_msg(first <= len, "%s: still NEED_MORE with all %zu bytes, want %s", what, len,
		      kit_status(want));
	if (want == SNIFF_FOUND && want_name != NULL)
		ck_assert_msg(strcmp(first_name, want_name) == 0,
			      "%s: name \"%s\", want \"%s\"", what, first_name, want_name);
	return first;
}

void kit_extended(kit_parser parse, const char *what, const uint8_t *data, size_t len)
{
	static const uint8_t fills[] = { 0x00, 0x16, 0xff, '\r', '\n', 'H' };
	struct sniff_result out, more;
	uint8_t *buf = malloc(len + KIT_TAIL);
	int status = kit_call(parse, data, len, &out);

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, data, len);
	for (size_t i = 0; status != SNIFF_NEED_MORE && i <= sizeof fills; i++) {
		for (size_t j = 0; j < KIT_TAIL; j++)	/* last round: the bytes again */
			buf[len + j] = i < sizeof fills ? fills[i] : (len ? data[j % len] : 0);
		ck_assert_msg(kit_call(parse, buf, len + KIT_TAIL, &more) == status &&
			      strcmp(more.name, out.name) == 0,
			      "%s: %s with %zu bytes, then not with %d more", what,
			      kit_status(status), len, KIT_TAIL);
	}
	free(buf);
}

size_t kit_records(const uint8_t *msg, size_t len, size_t frag, uint16_t version, uint8_t *out,
		   size_t size)
{
	size_t wire = 0;

	if (frag == 0)
		frag = len;
	for (size_t pos = 0; pos < len; pos += frag) {
		size_t n = len - pos < frag ? len - pos : frag;

		ck_assert_uint_le(n, 0xffff);
		ck_assert_uint_le(wire + 5 + n, size);
		out[wire] = 22;
		out[wire + 1] = (uint8_t)(version >> 8);
		out[wire + 2] = (uint8_t)version;
		out[wire + 3] = (uint8_t)(n >> 8);
		out[wire + 4] = (uint8_t)n;
		memcpy(out + wire + 5, msg + pos, n);
		wire += 5 + n;
	}
	return wire;
}

size_t kit_load(const char *name, uint8_t *buf, size_t size)
{
	char path[512];
	FILE *file;
	size_t len;

	snprintf(path, sizeof path, "%s/%s", CAPTURE_DIR, name);
	file = fopen(path, "rb");
	ck_assert_msg(file != NULL, "cannot open %s (tests run from the repository root)", path);
	len = fread(buf, 1, size, file);
	ck_assert_msg(!ferror(file) && len > 0 && len < size, "%s: read %zu bytes", path, len);
	fclose(file);
	return len;
}
