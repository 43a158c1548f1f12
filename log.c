/*
 * log.c: stderr lines for the proxy and the healthcheck.
 *
 * Every line is formatted into a buffer and written with one write(2): no
 * stdio buffer is copied into forked children, and concurrent children's
 * lines stay whole (a pipe write up to PIPE_BUF is atomic).
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

void log_init(const char *program)
{
	log_program = program;
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

/* "program: " + message + optional ": strerror" + newline, one write. */
static void log_vline(const char *fmt, va_list ap, int errnum)
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

void log_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, 0);
	va_end(ap);
}

void log_errno(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, errnum);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, 0);
	va_end(ap);
	exit(EXIT_FATAL);
}

void die_errno(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, errnum);
	va_end(ap);
	exit(EXIT_FATAL);
}

void die_config(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, 0);
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
