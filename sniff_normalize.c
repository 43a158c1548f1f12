/*
 * sniff_normalize.c: the one definition of "a host name we route by",
 * shared by the TLS and HTTP peekers (sniff.h has the contract).
 *
 * A leaf of the module graph: the dispatcher (sniff.c) calls the peekers,
 * the peekers call this, and this calls nobody. Names are compared with the
 * TARGET patterns after this step, so it decides what "the same name" means:
 * case and one trailing dot do not count, everything else does. IP literals
 * are refused here: routed mode matches names, and a literal could reach an
 * address no pattern was meant to allow.
 */
#include "sniff.h"

#define SNIFF_LABEL_MAX 63	/* RFC 1035 2.3.4 */

static char sniff_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* A character of a label, already in lower case. '_' for SRV-style and some real hosts. */
static int sniff_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int sniff_digits(const char *label, size_t len, int hex)
{
	for (size_t i = 0; i < len; i++) {
		char c = label[i];

		if (!(c >= '0' && c <= '9') && !(hex && c >= 'a' && c <= 'f'))
			return 0;
	}
	return 1;
}

/* A label between dots: 1-63 characters, no hyphen at either end (RFC 1123 2.1). */
static int sniff_label_ok(const char *label, size_t len)
{
	return len >= 1 && len <= SNIFF_LABEL_MAX && label[0] != '-' && label[len - 1] != '-';
}

/*
 * The last label must not make the whole a number: inet_aton() and so
 * getaddrinfo() read "10.1", "0x7f.1" and "0x7f000001" as IPv4 addresses.
 */
static int sniff_last_label_ok(const char *label, size_t len)
{
	if (sniff_digits(label, len, 0))
		return 0;
	if (len >= 2 && label[0] == '0' && label[1] == 'x' && sniff_digits(label + 2, len - 2, 1))
		return 0;
	return 1;
}

/*
 * Copies in[0..len) (no trailing dot) into out in lower case, checking as it
 * goes; 0 when it is a valid name. in may be out: each octet is read before
 * it is written over.
 */
static int sniff_copy_name(const char *in, size_t len, char *out)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		char c = sniff_lower(in[i]);

		if (c == '.') {
			if (!sniff_label_ok(out + start, i - start))
				return -1;	/* empty, too long or hyphen-edged label */
			start = i + 1;
		} else if (!sniff_label_char(c)) {
			return -1;	/* NUL, space, ':', '@', '%', '[', 8-bit... */
		}
		out[i] = c;
	}
	if (!sniff_label_ok(out + start, len - start) ||
	    !sniff_last_label_ok(out + start, len - start))
		return -1;
	out[len] = '\0';
	return 0;
}

int sniff_normalize_name(const char *in, size_t len, char *out, size_t size)
{
	if (out == NULL || size == 0)
		return -1;
	if (in != NULL && len > 0 && in[len - 1] == '.')
		len--;		/* the root label: "a.example." is "a.example" */
	/* empty, longer than DNS allows, or no room for it and its NUL */
	if (in == NULL || len == 0 || len > SNIFF_NAME_MAX || len >= size ||
	    sniff_copy_name(in, len, out) != 0) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}
