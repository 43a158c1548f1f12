// fuzz-sources: tls_hello.c sniff_normalize.c
/*
 * fuzz/fuzz_tls_hello.c: libFuzzer target for tls_hello_name(), the
 * ClientHello peeker of routed mode.
 *
 * Each input is used twice. As it comes off the wire: records and all. And
 * as a handshake message after its first octet, which picks a record size
 * (0: as few records as possible): the target wraps the message in records
 * itself, so the fuzzer reaches the ClientHello body without keeping record
 * lengths right. Checked on both (fuzz/sniff_fuzz.h): the contract of every
 * answer (a FOUND name is valid, normalized, at most 253 characters and
 * NUL-terminated in its array); a final answer never changes for a longer
 * prefix or longer buffer. And when the message fills its declared length
 * exactly and both fit in SNIFF_MAX_PEEK, the wrapped message gives the same
 * answer, name and version in the chosen records as in one record: the
 * record layer never changes what the hello says.
 * Built and run by fuzz/run.sh; seeds: the TLS captures in t/captures and
 * the built hellos of fuzz/sniff_fuzz.h.
 */
#include "tls_hello.h"

#include "sniff_fuzz.h"

#define FUZZ_RECORD_MAX 16384
#define FUZZ_WIRE_MAX (6 * 65536)

/* Wraps msg in records of frag octets (version 3.1); returns the wire size. */
static size_t fuzz_wrap(const uint8_t *msg, size_t len, size_t frag, uint8_t *wire)
{
	size_t out = 0;

	for (size_t pos = 0; pos < len; pos += frag) {
		size_t n = len - pos < frag ? len - pos : frag;

		wire[out] = TLS_CONTENT_HANDSHAKE;
		wire[out + 1] = 3;
		wire[out + 2] = 1;
		wire[out + 3] = (uint8_t)(n >> 8);
		wire[out + 4] = (uint8_t)n;
		memcpy(wire + out + 5, msg + pos, n);
		out += 5 + n;
	}
	return out;
}

/* The message after the first octet, in the records it picks and in one. */
static void fuzz_wrapped(const uint8_t *data, size_t size)
{
	static uint8_t wire[FUZZ_WIRE_MAX], whole[FUZZ_WIRE_MAX];
	struct sniff_result out, one;
	size_t frag, len, whole_len, declared;
	int status, status_one;

	if (size < 2 || size - 1 > FUZZ_WIRE_MAX / 6)
		return;
	frag = data[0] == 0 ? FUZZ_RECORD_MAX : data[0];
	len = fuzz_wrap(data + 1, size - 1, frag, wire);
	fuzz_check_prefixes(tls_hello_name, wire, len);
	if (size - 1 < 4 || size - 1 > FUZZ_RECORD_MAX || len > SNIFF_MAX_PEEK)
		return;
	declared = (size_t)data[2] << 16 | (size_t)data[3] << 8 | data[4];
	if (4 + declared != size - 1)
		return;		/* a message that does not end its records exactly */
	whole_len = fuzz_wrap(data + 1, size - 1, FUZZ_RECORD_MAX, whole);
	if (whole_len > SNIFF_MAX_PEEK)
		return;
	status = fuzz_call(tls_hello_name, wire, len, &out);
	status_one = fuzz_call(tls_hello_name, whole, whole_len, &one);
	if (!fuzz_same(status, &out, status_one, &one) || out.tls_version != one.tls_version)
		abort();	/* the record size changed the answer */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (dir == NULL)
		return 0;
	fuzz_write_seeds(dir, TLS_CONTENT_HANDSHAKE);
	fuzz_write_tls_seeds(dir, 1);
	exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_check_prefixes(tls_hello_name, data, size);
	fuzz_wrapped(data, size);
	return 0;
}
