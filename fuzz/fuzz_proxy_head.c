// fuzz-sources: proxy_head.c sniff_normalize.c
/*
 * fuzz/fuzz_proxy_head.c: libFuzzer target for proxy_head.c, the request
 * head of explicit-proxy clients (CONNECT_PORT).
 *
 * Checked on every input, each call on a heap copy of the exact size:
 * - the answer's contract: FOUND has a NUL-terminated host that is a name
 *   in normalized form or an IP literal of its family, a port, a head_len
 *   within the input, spans inside the head; MALFORMED has a problem;
 * - prefixes: NEED_MORE up to some cut, then one final answer, the same for
 *   every longer prefix and with bytes appended (an eager ClientHello);
 * - the rewrite of an absolute-form head fits PROXY_REWRITE_MAX, starts
 *   with the method and a '/', ends with "Connection: close" and the empty
 *   line, and has no Proxy-Authorization or Proxy-Connection line;
 * - the Basic decoder, on the head's credentials, writes within its buffer.
 * Built and run by fuzz/run.sh; seeds: heads written here.
 */
#include "proxy_head.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "fuzz_seeds.h"
#include "sniff.h"

#define FUZZ_ALL_PREFIXES 64	/* inputs up to this size: every prefix */
#define FUZZ_CUTS 40		/* longer ones: this many cut points */

static const char *const fuzz_heads[] = {
	"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
	"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n\x16\x03\x01",
	"GET http://a.example:8080/x?y HTTP/1.1\r\nConnection: X\r\nX: 1\r\nHost: b\r\n\r\n",
	"POST http://198.18.0.1/ HTTP/1.0\nContent-Length: 2\nProxy-Connection: k\n\nhi",
	"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (dir == NULL)
		return 0;
	fuzz_write_heads(dir, fuzz_heads, sizeof fuzz_heads / sizeof fuzz_heads[0]);
	exit(0);
}

static int fuzz_parse(const uint8_t *data, size_t len, struct proxy_head *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	int status;

	memcpy(copy, data, len);
	memset(out, 0xa5, sizeof *out);
	status = proxy_head_parse(copy, len, out);
	free(copy);
	return status;
}

static int fuzz_in(const struct proxy_span *span, size_t head_len)
{
	return span->off <= head_len && span->len <= head_len - span->off;
}

/* The contract of one answer. */
static void fuzz_check(int status, const struct proxy_head *out, size_t len)
{
	uint8_t bytes[16];
	char copy[PROXY_HOST_SIZE];
	size_t host_len;

	if (status == PROXY_HEAD_NEED_MORE || status == PROXY_HEAD_MALFORMED) {
		if (out->host[0] || out->head_len || (status == PROXY_HEAD_MALFORMED) != !!out->problem)
			abort();
		return;
	}
	if (status != PROXY_HEAD_FOUND || !memchr(out->host, '\0', sizeof out->host))
		abort();
	host_len = strlen(out->host);
	if (out->head_len == 0 || out->head_len > len || out->head_len > PROXY_HEAD_MAX ||
	    out->port == 0 || !fuzz_in(&out->method, out->head_len) ||
	    !fuzz_in(&out->path, out->head_len) || !fuzz_in(&out->authorization, out->head_len))
		abort();
	if (out->host_family) {
		if (inet_pton(out->host_family, out->host, bytes) != 1)
			abort();
	} else if (sniff_normalize_name(out->host, host_len, copy, sizeof copy) < 0 ||
		   strcmp(copy, out->host) != 0) {
		abort();	/* not a name in normalized form */
	}
}

/* A line of the rewritten head that starts with name (any case). */
static int fuzz_has_line(const char *text, size_t len, const char *name)
{
	size_t n = strlen(name);

	for (size_t at = 0; at + n <= len; at++)
		if ((at == 0 || text[at - 1] == '\n') && strncasecmp(text + at, name, n) == 0)
			return 1;
	return 0;
}

static void fuzz_rewrite(const uint8_t *data, size_t len, const struct proxy_head *head)
{
	static char out[PROXY_REWRITE_MAX];
	static const char tail[] = "\r\nConnection: close\r\n\r\n";
	char credentials[PROXY_CREDENTIALS_SIZE];
	int got;

	(void)len;
	if (head->has_authorization &&
	    proxy_head_basic(data + head->authorization.off, head->authorization.len, credentials,
			     sizeof credentials) >= (int)sizeof credentials)
		abort();
	got = proxy_head_rewrite(data, head, out, sizeof out);
	if (head->form != PROXY_FORM_ABSOLUTE) {
		if (got != -1)
			abort();
		return;
	}
	if (got < (int)sizeof tail || memcmp(out, data + head->method.off, head->method.len) != 0 ||
	    out[head->method.len] != ' ' || out[head->method.len + 1] != '/' ||
	    memcmp(out + got - (sizeof tail - 1), tail, sizeof tail - 1) != 0 ||
	    fuzz_has_line(out, (size_t)got, "proxy-authorization:") ||
	    fuzz_has_line(out, (size_t)got, "proxy-connection:"))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_head out, other;
	int status = fuzz_parse(data, size, &out), final = PROXY_HEAD_NEED_MORE;
	uint8_t *longer;

	fuzz_check(status, &out, size);
	size_t steps = size <= FUZZ_ALL_PREFIXES ? size : FUZZ_CUTS;

	for (size_t k = 0; k <= steps; k++) {
		size_t cut = size <= FUZZ_ALL_PREFIXES ? k : (size_t)((unsigned long long)k * size / steps);
		int got = fuzz_parse(data, cut, &other);

		fuzz_check(got, &other, cut);
		if (final != PROXY_HEAD_NEED_MORE && got != final)
			abort();	/* a final answer changed for a longer prefix */
		final = got;
	}
	if (final != status)
		abort();
	longer = malloc(size + 3);
	memcpy(longer, data, size);
	memcpy(longer + size, "\x16\x03\x01", 3);
	if (status != PROXY_HEAD_NEED_MORE &&
	    (fuzz_parse(longer, size + 3, &other) != status ||
	     (status == PROXY_HEAD_FOUND && other.head_len != out.head_len)))
		abort();	/* bytes behind the head changed the answer */
	if (status == PROXY_HEAD_FOUND)
		fuzz_rewrite(longer, size + 3, &out);
	free(longer);
	return 0;
}
