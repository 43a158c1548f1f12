/*
 * log.h: one line per event on stderr, written with a single write(2) so
 * lines from the parent and its children never interleave or repeat.
 */
#ifndef WHITELIST_LOG_H
#define WHITELIST_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LOG_ADDR_SIZE 64	/* "[v6 address]:port" */
#define EXIT_CONFIG 2		/* a bad variable: the user's mistake */
#define EXIT_FATAL 1

void log_init(const char *program);
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "198.18.0.1:80" or "[2001:db8::1]:80"; v4-mapped v6 addresses print as v4. */
const char *log_addr(const struct sockaddr *addr, char *out, size_t size);
/* The address alone, without port. */
const char *log_host(const struct sockaddr *addr, char *out, size_t size);

/*
 * socat -v style dump of one transfer: a header line
 * "> 2026/11/23 15:22:43.123456  length=N from=A to=B" (A, B: stream offsets)
 * then the bytes, \r for CR, \\ for backslash, '.' for other unprintables.
 * Writes it into out (NUL-terminated, cut at size) and returns its length.
 */
size_t log_dump_format(char *out, size_t size, char direction, uint64_t offset,
		       const uint8_t *data, size_t len);
void log_dump(char direction, uint64_t offset, const uint8_t *data, size_t len);

#endif
