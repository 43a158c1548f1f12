/*
 * log.h: one line per event on stderr, written with a single write(2) so
 * lines from the parent and its children never interleave or repeat.
 *
 * Two formats, chosen once in main before the first fork (LOG_FORMAT):
 * text, "whitelist: accept 198.18.1.2:40312 -> 80 (child 12, 1/100)", or
 * one JSON object per line: time (RFC 3339, UTC, microseconds), level,
 * event, the event's fields, and message (the text line without the
 * program's name). log_msg's lines are event "message", log_errno's and
 * die's "error"; log_event gives an event its name and fields.
 */
#ifndef WHITELIST_LOG_H
#define WHITELIST_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#define LOG_ADDR_SIZE 64	/* "[v6 address]:port" */
#define EXIT_CONFIG 2		/* a bad variable: the user's mistake */
#define EXIT_FATAL 1

#ifdef LOG_INFO
#error "log.h's levels clash with <syslog.h>'s"
#endif

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
enum log_level { LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };

/* One field of a JSON line: a string, or a number (LOG_STR, LOG_NUM; LOG_FIELDS ends the list). */
struct log_field {
	const char *key;	/* NULL: the end of the list */
	const char *text;	/* LOG_STR; NULL shows as null */
	long long number;	/* LOG_NUM */
	int is_number;
};

#define LOG_STR(key, text) { (key), (text), 0, 0 }
#define LOG_NUM(key, number) { (key), NULL, (long long)(number), 1 }
/* log_event(LOG_INFO, "accept", LOG_FIELDS(LOG_STR("client", c), LOG_NUM("port", p)), ...) */
#define LOG_FIELDS(...) ((const struct log_field[]){ __VA_ARGS__, { NULL, NULL, 0, 0 } })

#define LOG_JSON_SIZE 2048	/* a JSON line, cut (still valid) beyond; below PIPE_BUF */

void log_init(const char *program);
/* LOG_FORMAT: set once, before the first fork. */
void log_set_format(enum log_format format);
int log_is_json(void);

/*
 * One event: in text mode exactly log_msg(fmt, ...); in JSON mode the
 * object with event, fields and the formatted text as message. Callers
 * keep it behind their VERBOSE test: nothing is formatted otherwise.
 */
void log_event(enum log_level level, const char *event, const struct log_field *fields,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The JSON line of an event at now, newline-terminated, into out (NUL
 * after it); returns its length. Cut at size, it stays one valid object:
 * a long string is cut at a character, a field that does not fit is left
 * out. Strings are escaped per RFC 8259: '"', '\\', control characters and
 * DEL as \u00XX; valid UTF-8 passes as it is, each byte of an invalid
 * sequence becomes \u00XX (its Latin-1 reading). size must be 5 or more.
 */
size_t log_json_format(char *out, size_t size, const struct timeval *now, enum log_level level,
		       const char *event, const struct log_field *fields, const char *message);
/* log_json_format at the current time, written to fd in one write(2). */
void log_json_write(int fd, enum log_level level, const char *event,
		    const struct log_field *fields, const char *message);

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
