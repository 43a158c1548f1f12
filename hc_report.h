/*
 * hc_report.h: the healthcheck's output, one line per check: stdout when
 * it passes ("healthcheck: dns: ..."), stderr when it fails
 * ("healthcheck: dns: unhealthy: ..."). LOG_FORMAT=json: one object each,
 * event "healthcheck", level info or error, the check's name in "check".
 */
#ifndef WHITELIST_HC_REPORT_H
#define WHITELIST_HC_REPORT_H

#include <stddef.h>

#define HC_LINE_SIZE 2048

void hc_pass(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports a failed check; returns 1, the exit status it earns. */
int hc_fail(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends text to a "; "-separated list in buf; a full buffer just stops growing. */
void hc_append(char *buf, size_t size, const char *text);

#endif
