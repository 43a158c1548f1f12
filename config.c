/*
 * config.c: reads the image's environment variables into struct conf.
 *
 * Every default of the old image is built in, so the binary works without the
 * Dockerfile's ENV. A bad value is reported with the variable's name and the
 * value as given; the caller stops before anything is bound.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_DEFAULT_PORT "80 443"
#define CONF_DEFAULT_NAMESERVERS "208.67.222.222 8.8.8.8 208.67.220.220 8.8.4.4"
#define CONF_DEFAULT_TIMEOUT_MS "2000"
#define CONF_SEPARATORS " \t\n"

static int conf_fail(char *err, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int conf_fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -1;
}

/* The value of name, or fallback when it is unset or empty (compose's `VAR:`). */
static const char *conf_get(conf_getter get, const char *name, const char *fallback)
{
	const char *value = get(name);

	return value && *value ? value : fallback;
}

/* Parses a whole decimal number in [min, max]; -1 on anything else. */
static int conf_parse_number(const char *text, long min, long max, long *out)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (end == text || *end != '\0' || errno == ERANGE)
		return -1;
	if (value < min || value > max)
		return -1;
	*out = value;
	return 0;
}

static int conf_number(conf_getter get, const char *name, const char *fallback, long min,
		       long max, long *out, char *err, size_t size)
{
	const char *text = conf_get(get, name, fallback);

	if (conf_parse_number(text, min, max, out) < 0)
		return conf_fail(err, size, "%s: \"%s\" is not a number from %ld to %ld",
				 name, text, min, max);
	return 0;
}

static int conf_flag(conf_getter get, const char *name, const char *fallback, int *out,
		     char *err, size_t size)
{
	const char *text = conf_get(get, name, fallback);

	if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
		return conf_fail(err, size, "%s: \"%s\" is not 0 or 1", name, text);
	*out = text[0] == '1';
	return 0;
}

static int conf_add_port(struct conf *conf, long port, char *err, size_t size)
{
	if (conf_has_port(conf, (uint16_t)port))
		return conf_fail(err, size, "PORT: %ld is listed twice", port);
	if (conf->nports == CONF_MAX_PORTS)
		return conf_fail(err, size, "PORT: more than %d ports", CONF_MAX_PORTS);
	conf->ports[conf->nports++] = (uint16_t)port;
	return 0;
}

/* One PORT word: a port, or a range "first-last" as the old image's last version took. */
static int conf_parse_port_word(struct conf *conf, char *word, char *err, size_t size)
{
	char *dash = strchr(word, '-');
	long first, last;

	if (dash && dash != word) {
		*dash = '\0';
		if (conf_parse_number(word, 1, 65535, &first) < 0 ||
		    conf_parse_number(dash + 1, 1, 65535, &last) < 0 || last < first) {
			*dash = '-';
			return conf_fail(err, size, "PORT: \"%s\" is not a port range", word);
		}
	} else if (conf_parse_number(word, 1, 65535, &first) == 0) {
		last = first;
	} else {
		return conf_fail(err, size, "PORT: \"%s\" is not a port number (1-65535)", word);
	}
	for (long port = first; port <= last; port++)
		if (conf_add_port(conf, port, err, size) < 0)
			return -1;
	return 0;
}

static int conf_parse_ports(struct conf *conf, const char *text, char *err, size_t size)
{
	char copy[8192], *save = NULL;

	if (strlen(text) >= sizeof copy)
		return conf_fail(err, size, "PORT: the list is too long");
	strcpy(copy, text);
	conf->nports = 0;
	for (char *word = strtok_r(copy, CONF_SEPARATORS, &save); word;
	     word = strtok_r(NULL, CONF_SEPARATORS, &save))
		if (conf_parse_port_word(conf, word, err, size) < 0)
			return -1;
	if (conf->nports == 0)
		return conf_fail(err, size, "PORT: \"%s\" lists no port", text);
	return 0;
}

static int conf_parse_nameservers(struct conf *conf, const char *text, char *err, size_t size)
{
	char copy[4096], *save = NULL;

	if (strlen(text) >= sizeof copy)
		return conf_fail(err, size, "NAMESERVERS: the list is too long");
	strcpy(copy, text);
	conf->nnameservers = 0;
	for (char *word = strtok_r(copy, CONF_SEPARATORS, &save); word;
	     word = strtok_r(NULL, CONF_SEPARATORS, &save)) {
		if (conf->nnameservers == DNS_MAX_SERVERS)
			return conf_fail(err, size, "NAMESERVERS: more than %d servers",
					 DNS_MAX_SERVERS);
		if (dns_server_parse(word, &conf->nameservers[conf->nnameservers]) < 0)
			return conf_fail(err, size, "NAMESERVERS: \"%s\" is not an IP address",
					 word);
		conf->nnameservers++;
	}
	if (conf->nnameservers == 0)
		return conf_fail(err, size, "NAMESERVERS: \"%s\" lists no server", text);
	return 0;
}

static int conf_parse_mode(struct conf *conf, const char *text, char *err, size_t size)
{
	if (strcmp(text, "tcp") == 0)
		conf->mode = CONF_MODE_TCP;
	else if (strcmp(text, "udp") == 0)
		conf->mode = CONF_MODE_UDP;
	else
		return conf_fail(err, size, "MODE: \"%s\" is not tcp or udp", text);
	return 0;
}

static int conf_parse_target(struct conf *conf, conf_getter get, char *err, size_t size)
{
	conf->target = conf_get(get, "TARGET", NULL);
	if (!conf->target)
		return conf_fail(err, size, "TARGET: not set (the host to forward to)");
	if (strlen(conf->target) > DNS_MAX_NAME || strpbrk(conf->target, " \t\n/"))
		return conf_fail(err, size, "TARGET: \"%s\" is not a host name or IP address",
				 conf->target);
	return 0;
}

/* The URL with $TARGET replaced, for one healthcheck probe. */
static int conf_url(conf_getter get, const char *name, const char *fallback,
		    const char *target, char *out, char *err, size_t size)
{
	const char *text = conf_get(get, name, fallback);

	if (conf_expand_target(text, target, out, CONF_URL_SIZE) < 0)
		return conf_fail(err, size, "%s: \"%s\" is too long", name, text);
	return 0;
}

/* RUN_AS: "uid" or "uid:gid" (gid defaults to uid); numbers, as no user database is needed. */
static int conf_parse_run_as(struct conf *conf, const char *text, char *err, size_t size)
{
	char uid[32];
	const char *colon = strchr(text, ':');
	size_t uid_len = colon ? (size_t)(colon - text) : strlen(text);

	if (uid_len >= sizeof uid)
		return conf_fail(err, size, "RUN_AS: \"%s\" is not uid or uid:gid", text);
	memcpy(uid, text, uid_len);
	uid[uid_len] = '\0';
	if (conf_parse_number(uid, 0, UINT32_MAX - 1, &conf->run_uid) < 0 ||
	    conf_parse_number(colon ? colon + 1 : uid, 0, UINT32_MAX - 1, &conf->run_gid) < 0)
		return conf_fail(err, size, "RUN_AS: \"%s\" is not uid or uid:gid", text);
	return 0;
}

static int conf_load_healthchecks(struct conf *conf, conf_getter get, char *err, size_t size)
{
	if (conf_flag(get, "HTTP_HEALTHCHECK", "0", &conf->http_healthcheck, err, size) < 0 ||
	    conf_url(get, "HTTP_HEALTHCHECK_URL", "http://$TARGET/", conf->target,
		     conf->http_url, err, size) < 0 ||
	    conf_number(get, "HTTP_HEALTHCHECK_TIMEOUT_MS", CONF_DEFAULT_TIMEOUT_MS, 1,
			INT_MAX, &conf->http_timeout_ms, err, size) < 0 ||
	    conf_flag(get, "SMTP_HEALTHCHECK", "0", &conf->smtp_healthcheck, err, size) < 0 ||
	    conf_url(get, "SMTP_HEALTHCHECK_URL", "smtp://$TARGET/", conf->target,
		     conf->smtp_url, err, size) < 0 ||
	    conf_number(get, "SMTP_HEALTHCHECK_TIMEOUT_MS", CONF_DEFAULT_TIMEOUT_MS, 1,
			INT_MAX, &conf->smtp_timeout_ms, err, size) < 0)
		return -1;
	conf->smtp_command = conf_get(get, "SMTP_HEALTHCHECK_COMMAND", "HELP");
	return 0;
}

int conf_load(struct conf *conf, conf_getter get, char *err, size_t size)
{
	long verbose;

	memset(conf, 0, sizeof *conf);
	if (conf_parse_target(conf, get, err, size) < 0 ||
	    conf_parse_ports(conf, conf_get(get, "PORT", CONF_DEFAULT_PORT), err, size) < 0 ||
	    conf_parse_mode(conf, conf_get(get, "MODE", "tcp"), err, size) < 0 ||
	    conf_number(get, "MAX_CONNECTIONS", "100", 0, INT_MAX, &conf->max_connections,
			err, size) < 0 ||
	    conf_flag(get, "PRE_RESOLVE", "0", &conf->pre_resolve, err, size) < 0 ||
	    conf_parse_nameservers(conf, conf_get(get, "NAMESERVERS", CONF_DEFAULT_NAMESERVERS),
				   err, size) < 0 ||
	    conf_flag(get, "UDP_ANSWERS", "1", &conf->udp_answers, err, size) < 0 ||
	    conf_number(get, "UDP_TIMEOUT", "30", 0, INT_MAX / 1000, &conf->udp_timeout, err,
			size) < 0 ||
	    conf_number(get, "VERBOSE", "0", 0, 2, &verbose, err, size) < 0 ||
	    conf_parse_run_as(conf, conf_get(get, "RUN_AS", "65534:65534"), err, size) < 0 ||
	    conf_load_healthchecks(conf, get, err, size) < 0)
		return -1;
	conf->verbose = (int)verbose;
	return 0;
}

int conf_expand_target(const char *template, const char *target, char *out, size_t size)
{
	static const char token[] = "$TARGET";
	size_t used = 0, target_len = strlen(target);

	while (*template) {
		const char *piece = template;
		size_t piece_len = 1;

		if (strncmp(template, token, sizeof token - 1) == 0) {
			piece = target;
			piece_len = target_len;
			template += sizeof token - 1;
		} else {
			template++;
		}
		if (used + piece_len >= size)
			return -1;
		memcpy(out + used, piece, piece_len);
		used += piece_len;
	}
	out[used] = '\0';
	return 0;
}

int conf_target_file(char *out, size_t size, long pid)
{
	const char *dir = getenv("TMPDIR");
	int len = snprintf(out, size, "%s/whitelist-%ld.target", dir && *dir ? dir : "/tmp", pid);

	return len > 0 && (size_t)len < size ? 0 : -1;
}

int conf_has_port(const struct conf *conf, uint16_t port)
{
	for (size_t i = 0; i < conf->nports; i++)
		if (conf->ports[i] == port)
			return 1;
	return 0;
}
