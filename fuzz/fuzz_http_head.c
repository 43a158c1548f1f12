// fuzz-sources: http_head.c sniff_normalize.c
/*
 * fuzz/fuzz_http_head.c: libFuzzer target for http_head_host(), the
 * HTTP/1.x request-head peeker of routed mode.
 *
 * Checked on every input (fuzz/sniff_fuzz.h): the contract of every answer
 * (a FOUND name is valid, normalized, at most 253 characters and
 * NUL-terminated in its array); a final answer never changes for a longer
 * prefix or longer buffer. And two equivalences of the format: a head with
 * every CRLF turned into a lone LF gives the same answer, and so does the
 * head with an empty line (CRLF) put in front of it.
 * Built and run by fuzz/run.sh; seeds: the HTTP captures in t/captures and
 * a few heads written here.
 */
#include "http_head.h"

#include "fuzz_seeds.h"
#include "sniff_fuzz.h"

static const char *const fuzz_heads[] = {
	"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
	"GET http://a.example:80/x HTTP/1.1\r\nHost: a.example\r\nX: 1\r\n 2\r\n\r\n",
	"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
	"OPTIONS * HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:80\r\nHost: b\r\n\r\n",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (dir == NULL)
		return 0;
	fuzz_write_seeds(dir, -1);
	fuzz_write_heads(dir, fuzz_heads, sizeof fuzz_heads / sizeof fuzz_heads[0]);
	exit(0);
}

/*
 * The same head with its CRLFs as lone LFs, and after one more empty line:
 * the same answer. Only for inputs without other CRs (a bare CR is an
 * error the LF form would hide) and within the peek size.
 */
static void fuzz_equivalents(const uint8_t *data, size_t size, int status,
			     const struct sniff_result *out)
{
	static uint8_t buf[SNIFF_MAX_PEEK + 2];
	struct sniff_result other;
	size_t len = 0;

	if (size + 2 > SNIFF_MAX_PEEK)
		return;
	buf[0] = '\r';
	buf[1] = '\n';
	memcpy(buf + 2, data, size);
	if (!fuzz_same(fuzz_call(http_head_host, buf, size + 2, &other), &other, status, out))
		abort();	/* an empty line in front changed the answer */
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n'))
			return;
		if (data[i] != '\r')
			buf[len++] = data[i];
	}
	if (!fuzz_same(fuzz_call(http_head_host, buf, len, &other), &other, status, out))
		abort();	/* LF for CRLF changed the answer */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sniff_result out;
	int status;

	fuzz_check_prefixes(http_head_host, data, size);
	status = fuzz_call(http_head_host, data, size, &out);
	fuzz_equivalents(data, size, status, &out);
	return 0;
}
