// fuzz-sources: sniff.c tls_hello.c http_head.c sniff_normalize.c
/*
 * fuzz/fuzz_sniff.c: libFuzzer target for sniff_name(), the dispatcher of
 * routed mode's peekers, and sniff_normalize_name().
 *
 * The input goes to sniff_name(), whose answer must be exactly the one of
 * the peeker its first octet picks, and keep the contract of
 * fuzz/sniff_fuzz.h (prefixes included). The same octets, read as a host
 * name, go to sniff_normalize_name(), checked against an independent
 * reading of sniff.h's rules: lower case, one trailing dot off, then valid
 * or not by fuzz_valid_name(); the result normalizes to itself, also in
 * place, and a buffer one octet too small is refused.
 * Built and run by fuzz/run.sh; seeds: every capture in t/captures and the
 * built hellos of fuzz/sniff_fuzz.h.
 */
#include "sniff.h"

#include "http_head.h"
#include "sniff_fuzz.h"
#include "tls_hello.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (dir == NULL)
		return 0;
	fuzz_write_seeds(dir, -1);
	fuzz_write_tls_seeds(dir, 0);
	exit(0);
}

/* sniff_name() answers as the peeker for the first octet would. */
static void fuzz_dispatch(const uint8_t *data, size_t size)
{
	struct sniff_result out, direct;
	int status = fuzz_call(sniff_name, data, size, &out), want;

	if (size == 0) {
		if (status != SNIFF_NEED_MORE || out.proto != SNIFF_PROTO_NONE)
			abort();
		return;
	}
	if (data[0] == TLS_CONTENT_HANDSHAKE)
		want = fuzz_call(tls_hello_name, data, size, &direct);
	else
		want = fuzz_call(http_head_host, data, size, &direct);
	if (!fuzz_same(status, &out, want, &direct) || out.proto != direct.proto ||
	    out.tls_version != direct.tls_version)
		abort();
}

/* The expected normalized form, or -1: lower case, one dot off, then the rules. */
static int fuzz_expected_name(const uint8_t *data, size_t size, char *want)
{
	if (size > 0 && data[size - 1] == '.')
		size--;
	if (size > SNIFF_NAME_MAX)
		return -1;
	for (size_t i = 0; i < size; i++) {
		uint8_t c = data[i];

		want[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	want[size] = '\0';
	return fuzz_valid_name(want, size) && memchr(want, '\0', size) == NULL ? 0 : -1;
}

static void fuzz_normalize(const uint8_t *data, size_t size)
{
	char out[SNIFF_NAME_SIZE], want[SNIFF_NAME_SIZE + 1], again[SNIFF_NAME_SIZE];
	char *in = malloc(size > 0 ? size : 1);
	int status, expected;
	size_t len;

	if (in == NULL)
		abort();
	memcpy(in, data, size);
	status = sniff_normalize_name(in, size, out, sizeof out);
	free(in);
	expected = fuzz_expected_name(data, size, want);
	if (status != expected || (status == 0 && strcmp(out, want) != 0) ||
	    (status != 0 && out[0] != '\0'))
		abort();
	if (status != 0)
		return;
	len = strlen(out);
	if (sniff_normalize_name(out, len, again, sizeof again) != 0 || strcmp(again, out) != 0)
		abort();	/* not a fixed point */
	memcpy(again, data, size);	/* valid: size <= 253 + the dot, sizeof again */
	if (sniff_normalize_name(again, size, again, sizeof again) != 0 || strcmp(again, out) != 0)
		abort();	/* in place differs */
	if (sniff_normalize_name(out, len, again, len) != -1 ||
	    sniff_normalize_name(out, len, again, len + 1) != 0)
		abort();	/* the size rule: the name and its NUL */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_check_prefixes(sniff_name, data, size);
	fuzz_dispatch(data, size);
	fuzz_normalize(data, size);
	return 0;
}
