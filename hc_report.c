/*
 * hc_report.c: see hc_report.h.
 */
#include "hc_report.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void hc_report(int fd, const char *check, const char *verdict, const char *fmt,
		      va_list ap)
{
	char line[HC_LINE_SIZE];
	int len;

	if (log_is_json()) {	/* the verdict is the level; check names the check */
		vsnprintf(line, sizeof line, fmt, ap);
		log_json_write(fd, *verdict ? LOG_ERROR : LOG_INFO, "healthcheck",
			       LOG_FIELDS(LOG_STR("check", check)), line);
		return;
	}
	len = snprintf(line, sizeof line, "healthcheck: %s: %s", check, verdict);
	if (len < 0)
		return;
	if ((size_t)len < sizeof line)
		vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
	dprintf(fd, "%s\n", line);
}

void hc_pass(const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hc_report(STDOUT_FILENO, check, "", fmt, ap);
	va_end(ap);
}

int hc_fail(const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hc_report(STDERR_FILENO, check, "unhealthy: ", fmt, ap);
	va_end(ap);
	return 1;
}

void hc_append(char *buf, size_t size, const char *text)
{
	size_t used = strlen(buf);

	if (used > 0 && used + 2 < size) {
		strcpy(buf + used, "; ");
		used += 2;
	}
	if (used < size)
		snprintf(buf + used, size - used, "%s", text);
}
