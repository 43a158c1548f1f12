/*
 * log.c: stderr lines for the proxy and the healthcheck.
 *
 * Every line is formatted into a buffer and written with one write(2): no
 * stdio buffer is copied into forked children, and concurrent children's
 * lines stay whole (a pipe write up to PIPE_BUF is atomic). In JSON mode
 * (log.h) the same calls write one object per line; the writer below needs
 * no allocation and no time zone (a relay has no vDSO and reads no file).
 */
#include "log.h"

#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_SIZE 1024

static const char *log_program = "whitelist";
static enum log_format log_format = LOG_FORMAT_TEXT;

void log_init(const char *program)
{
	log_program = program;
}

void log_set_format(enum log_format format)
{
	log_format = format;
}

int log_is_json(void)
{
	return log_format == LOG_FORMAT_JSON;
}

static void log_write(const char *text, size_t len)
{
	while (len > 0) {
		ssize_t sent = write(STDERR_FILENO, text, len);

		if (sent < 0 && errno == EINTR)
			continue;
		if (sent <= 0)
			return;
		text += sent;
		len -= (size_t)sent;
	}
}

/* --- JSON lines --- */

/* An object being written: out[0..used), used <= limit; a closing '"', '}', '\n', NUL always fit. */
struct log_json {
	char *out;
	size_t used, limit;
	int full;		/* something was cut: nothing more goes in */
};

#define LOG_JSON_RESERVE 4

static int log_json_raw(struct log_json *json, const char *text, size_t len)
{
	if (json->full || json->used + len > json->limit) {
		json->full = 1;
		return -1;
	}
	memcpy(json->out + json->used, text, len);
	json->used += len;
	return 0;
}

/* The length of the valid UTF-8 sequence of 2 to 4 bytes at text (RFC 3629), else 0. */
static size_t log_utf8_length(const uint8_t *text)
{
	uint8_t lead = text[0];
	size_t len = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	uint32_t point = lead & (0x3f >> (len - 1));

	if (lead < 0xc2 || lead > 0xf4)
		return 0;	/* a continuation byte, an overlong lead, or beyond U+10FFFF */
	for (size_t i = 1; i < len; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return 0;	/* the NUL at the end stops a short sequence here too */
		point = point << 6 | (text[i] & 0x3f);
	}
	if ((len == 3 && point < 0x800) || (len == 4 && (point < 0x10000 || point > 0x10ffff)) ||
	    (point >= 0xd800 && point <= 0xdfff))
		return 0;	/* overlong, out of range, or a surrogate */
	return len;
}

/* text's characters, escaped, until its end or the limit (then cut before a whole character). */
static void log_json_escaped(struct log_json *json, const char *text)
{
	const uint8_t *at = (const uint8_t *)text;

	while (*at) {
		size_t len = *at >= 0x80 ? log_utf8_length(at) : 1;
		char escaped[8];
		int failed;

		if (len == 0 || *at < 0x20 || *at == 0x7f) {
			snprintf(escaped, sizeof escaped, "\\u%04x", *at);
			failed = log_json_raw(json, escaped, 6);
			len = 1;
		} else if (*at == '"' || *at == '\\') {
			escaped[0] = '\\';
			escaped[1] = (char)*at;
			failed = log_json_raw(json, escaped, 2);
		} else {
			failed = log_json_raw(json, (const char *)at, len);
		}
		if (failed)
			return;
		at += len;
	}
}

/* ,"key": (no comma first); -1 when it does not fit. */
static int log_json_key(struct log_json *json, const char *key)
{
	if (json->used > 1 && log_json_raw(json, ",", 1) < 0)
		return -1;
	if (log_json_raw(json, "\"", 1) < 0)
		return -1;
	log_json_escaped(json, key);
	return log_json_raw(json, "\":", 2);
}

/* A string member: cut when long; left out when not even its key and a quote fit. */
static void log_json_string(struct log_json *json, const char *key, const char *value)
{
	size_t start = json->used;

	if (log_json_key(json, key) < 0 || log_json_raw(json, value ? "\"" : "null",
							 value ? 1 : 4) < 0) {
		json->used = start;
		return;
	}
	if (!value)
		return;
	log_json_escaped(json, value);
	json->out[json->used++] = '"';	/* in the reserve when the value was cut */
}

static void log_json_number(struct log_json *json, const char *key, long long value)
{
	size_t start = json->used;
	char text[24];
	int len = snprintf(text, sizeof text, "%lld", value);

	if (log_json_key(json, key) < 0 || log_json_raw(json, text, (size_t)len) < 0)
		json->used = start;
}

/* "2026-12-04T07:50:00.123456Z": days to a civil date (Howard Hinnant's algorithm), no tz. */
static void log_json_time(const struct timeval *now, char *out, size_t size)
{
	long long days = now->tv_sec / 86400, secs = now->tv_sec % 86400;
	long long era, doe, yoe, doy, mp, year, month, day;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = doy - (153 * mp + 2) / 5 + 1;
	month = mp < 10 ? mp + 3 : mp - 9;
	year = yoe + era * 400 + (month <= 2);
	snprintf(out, size, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06ldZ", year, month, day,
		 secs / 3600, secs / 60 % 60, secs % 60, (long)now->tv_usec);
}

static const char *const log_level_names[] = {
	[LOG_INFO] = "info", [LOG_WARN] = "warning", [LOG_ERROR] = "error", [LOG_FATAL] = "fatal",
};

size_t log_json_format(char *out, size_t size, const struct timeval *now, enum log_level level,
		       const char *event, const struct log_field *fields, const char *message)
{
	struct log_json json = { .out = out, .used = 1, .limit = size - LOG_JSON_RESERVE };
	char stamp[64];

	out[0] = '{';
	log_json_time(now, stamp, sizeof stamp);
	log_json_string(&json, "time", stamp);
	log_json_string(&json, "level", log_level_names[level]);
	log_json_string(&json, "event", event);
	for (; fields && fields->key; fields++) {
		if (fields->is_number)
			log_json_number(&json, fields->key, fields->number);
		else
			log_json_string(&json, fields->key, fields->text);
	}
	if (message)
		log_json_string(&json, "message", message);
	out[json.used++] = '}';
	out[json.used++] = '\n';
	out[json.used] = '\0';
	return json.used;
}

void log_json_write(int fd, enum log_level level, const char *event,
		    const struct log_field *fields, const char *message)
{
	char line[LOG_JSON_SIZE];
	struct timeval now;
	size_t len;

	syscall(SYS_gettimeofday, &now, NULL);	/* relays have no vDSO (process.h) */
	len = log_json_format(line, sizeof line, &now, level, event, fields, message);
	while (write(fd, line, len) < 0 && errno == EINTR)
		;
}

/* --- lines --- */

/* JSON mode: the text without the program's name becomes the message of event. */
static void log_vjson(enum log_level level, const char *event, const struct log_field *fields,
		      const char *fmt, va_list ap, int errnum)
{
	char text[LOG_LINE_SIZE];
	int len = vsnprintf(text, sizeof text, fmt, ap);

	if (len < 0)
		len = 0;
	if (errnum && (size_t)len < sizeof text)
		snprintf(text + len, sizeof text - (size_t)len, ": %s", strerror(errnum));
	log_json_write(STDERR_FILENO, level, event, fields, text);
}

/* "program: " + message + optional ": strerror" + newline, one write. */
static void log_vtext(const char *fmt, va_list ap, int errnum)
{
	char line[LOG_LINE_SIZE];
	int len = snprintf(line, sizeof line, "%s: ", log_program);

	len += vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
	if (len > (int)sizeof line - 2)
		len = (int)sizeof line - 2;
	if (errnum)
		len += snprintf(line + len, sizeof line - (size_t)len, ": %s", strerror(errnum));
	if (len > (int)sizeof line - 2)
		len = (int)sizeof line - 2;
	line[len++] = '\n';
	log_write(line, (size_t)len);
}

static void log_vline(enum log_level level, const char *event, const struct log_field *fields,
		      const char *fmt, va_list ap, int errnum)
{
	if (log_format == LOG_FORMAT_JSON)
		log_vjson(level, event, fields, fmt, ap, errnum);
	else
		log_vtext(fmt, ap, errnum);
}

void log_event(enum log_level level, const char *event, const struct log_field *fields,
	       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(level, event, fields, fmt, ap, 0);
	va_end(ap);
}

void log_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_INFO, "message", NULL, fmt, ap, 0);
	va_end(ap);
}

void log_errno(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_ERROR, "error", NULL, fmt, ap, errnum);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_FATAL, "error", NULL, fmt, ap, 0);
	va_end(ap);
	exit(EXIT_FATAL);
}

void die_errno(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_FATAL, "error", NULL, fmt, ap, errnum);
	va_end(ap);
	exit(EXIT_FATAL);
}

void die_config(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_FATAL, "error", NULL, fmt, ap, 0);
	va_end(ap);
	exit(EXIT_CONFIG);
}

const char *log_host(const struct sockaddr *addr, char *out, size_t size)
{
	uint8_t bytes[16];
	int family = addr_host_bytes(addr, bytes);	/* a v4-mapped address shows as v4 */

	if (!family || !inet_ntop(family, bytes, out, (socklen_t)size))
		snprintf(out, size, "?");
	return out;
}

const char *log_addr(const struct sockaddr *addr, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	uint8_t bytes[16];
	int family = addr_host_bytes(addr, bytes);

	if (family == AF_INET)
		snprintf(out, size, "%s:%u", inet_ntop(AF_INET, bytes, host, sizeof host),
			 addr_port(addr));
	else if (family == AF_INET6)
		snprintf(out, size, "[%s]:%u", inet_ntop(AF_INET6, bytes, host, sizeof host),
			 addr_port(addr));
	else
		snprintf(out, size, "?");
	return out;
}

static size_t log_dump_header(char *out, size_t size, char direction, uint64_t offset,
			      size_t len)
{
	struct timeval now;
	struct tm tm;
	char stamp[32];
	int written;

	syscall(SYS_gettimeofday, &now, NULL);	/* relays have no vDSO (process.h) */
	localtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", &tm);
	written = snprintf(out, size, "%c %s.%06ld  length=%zu from=%llu to=%llu\n", direction,
			   stamp, (long)now.tv_usec, len, (unsigned long long)offset,
			   (unsigned long long)(offset + len - (len > 0)));
	if (written < 0)
		return 0;
	return (size_t)written < size ? (size_t)written : size - 1;
}

/* One data byte as socat -v prints it: into out, returns how many chars (1 or 2). */
static size_t log_dump_byte(uint8_t byte, char out[2])
{
	if (byte == '\r') {
		out[0] = '\\';
		out[1] = 'r';
		return 2;
	}
	if (byte == '\\') {
		out[0] = out[1] = '\\';
		return 2;
	}
	out[0] = (byte == '\n' || (byte >= 0x20 && byte < 0x7f)) ? (char)byte : '.';
	return 1;
}

size_t log_dump_format(char *out, size_t size, char direction, uint64_t offset,
		       const uint8_t *data, size_t len)
{
	size_t used;

	if (size == 0)
		return 0;
	used = log_dump_header(out, size, direction, offset, len);
	for (size_t i = 0; i < len; i++) {
		char shown[2];
		size_t n = log_dump_byte(data[i], shown);

		if (used + n + 2 > size)
			break;
		memcpy(out + used, shown, n);
		used += n;
	}
	if (len > 0 && data[len - 1] != '\n' && used + 2 <= size)
		out[used++] = '\n';
	out[used] = '\0';
	return used;
}

void log_dump(char direction, uint64_t offset, const uint8_t *data, size_t len)
{
	static char text[2 * 65536 + 128];	/* every byte may double, plus the header */

	log_write(text, log_dump_format(text, sizeof text, direction, offset, data, len));
}
