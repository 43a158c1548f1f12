/*
 * config.c: reads the image's environment variables into struct conf.
 *
 * Every default of the old image is built in, so the binary works without the
 * Dockerfile's ENV. A bad value is reported with the variable's name and the
 * value as given; the caller stops before anything is bound.
 */
#include "config.h"

#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONF_DEFAULT_PORT "80 443"
#define CONF_DEFAULT_NAMESERVERS "208.67.222.222 8.8.8.8 208.67.220.220 8.8.4.4"
#define CONF_DEFAULT_TIMEOUT_MS "2000"
#define CONF_SEPARATORS " \t\n"

int conf_fail(char *err, size_t size, const char *fmt, ...)
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

/* Whether c is blank: around a value, as compose files and shells leave them. */
static int conf_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * text without the blanks around it, into out (cut at size). Every value is
 * read so: " 100" and "100 " mean 100, whatever strtol would make of them.
 */
static const char *conf_trim(const char *text, char *out, size_t size)
{
	size_t len;

	while (conf_blank(*text))
		text++;
	len = strlen(text);
	while (len > 0 && conf_blank(text[len - 1]))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(out, text, len);
	out[len] = '\0';
	return out;
}

/*
 * Parses a whole decimal number in [min, max] (blanks around it allowed);
 * -1 on anything else: signs, other bases, trailing text.
 */
static int conf_parse_number(const char *text, long min, long max, long *out)
{
	char digits[24];
	long value;

	while (conf_blank(*text))
		text++;
	/* Digits only: strtol alone would take "+5", "-0" and " 5". */
	size_t len = strspn(text, "0123456789");
	for (size_t i = len; text[i]; i++)
		if (!conf_blank(text[i]))
			return -1;
	if (len == 0 || len >= sizeof digits)
		return -1;
	memcpy(digits, text, len);
	digits[len] = '\0';
	errno = 0;
	value = strtol(digits, NULL, 10);
	if (errno == ERANGE || value < min || value > max)
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
	char value[4];

	conf_trim(text, value, sizeof value);
	if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
		return conf_fail(err, size, "%s: \"%s\" is not 0 or 1", name, text);
	*out = value[0] == '1';
	return 0;
}

/* PORT's entries (config_ports.c), then their listening ports, expanded. */
static int conf_parse_ports(struct conf *conf, const char *text, char *err, size_t size)
{
	int count = conf_ports_parse(text, conf->entries, CONF_MAX_ENTRIES, err, size);

	if (count < 0)
		return -1;
	conf->nentries = (size_t)count;
	conf->nports = 0;
	for (size_t i = 0; i < conf->nentries; i++) {
		const struct conf_port *entry = &conf->entries[i];

		if (!entry->first)
			conf->every_port = 1;	/* no port known before it is bound */
		for (unsigned port = entry->first; entry->first && port <= entry->last; port++)
			conf->ports[conf->nports++] = (uint16_t)port;
	}
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

/* LOG_FORMAT: text or json, in any case. */
static int conf_parse_log_format(struct conf *conf, const char *text, char *err, size_t size)
{
	char format[8];

	conf_trim(text, format, sizeof format);
	if (strcasecmp(format, "text") == 0)
		conf->log_format = LOG_FORMAT_TEXT;
	else if (strcasecmp(format, "json") == 0)
		conf->log_format = LOG_FORMAT_JSON;
	else
		return conf_fail(err, size, "LOG_FORMAT: \"%s\" is not text or json", text);
	return 0;
}

/* MODE: tcp or udp, in any case, as socat took them. */
static int conf_parse_mode(struct conf *conf, const char *text, char *err, size_t size)
{
	char mode[8];

	conf_trim(text, mode, sizeof mode);
	if (strcasecmp(mode, "tcp") == 0)
		conf->mode = CONF_MODE_TCP;
	else if (strcasecmp(mode, "udp") == 0)
		conf->mode = CONF_MODE_UDP;
	else
		return conf_fail(err, size, "MODE: \"%s\" is not tcp or udp", text);
	return 0;
}

/* 1 when text is a number glibc's inet_aton reads as an IPv4 address: "010.1", "0x7f.1", "1.2.3". */
static int conf_numeric_ipv4(const char *text, char *shown, size_t size)
{
	struct in_addr addr;

	if (inet_aton(text, &addr) == 0)
		return 0;
	inet_ntop(AF_INET, &addr, shown, (socklen_t)size);
	return 1;
}

/* Why a host name is not one (RFC 1123 labels; '_' too, as Docker names have it), or NULL. */
static const char *conf_host_name_problem(const char *name)
{
	size_t len = strlen(name), label = 0;
	const char *last = name;

	if (len > 0 && name[len - 1] == '.')
		len--;	/* one trailing dot: the root, as in DNS */
	if (len == 0 || len > 253)
		return "is not a host name (1 to 253 characters)";
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? name[i] : '.';

		if (c == '.') {
			if (label == 0)
				return "has an empty label";
			if (label > 63)
				return "has a label longer than 63 characters";
			if (name[i - 1] == '-' || name[i - label] == '-')
				return "has a label that starts or ends with '-'";
			last = name + i - label;
			label = 0;
		} else if ((unsigned char)c >= 0x80) {
			return "is not ASCII: write an internationalized name as punycode (xn--...)";
		} else if (!isalnum((unsigned char)c) && c != '-' && c != '_') {
			return "is not a host name or IP address";
		} else {
			label++;
		}
	}
	if (strspn(last, "0123456789") == (size_t)(name + len - last))
		return "is neither a host name (its last label is a number) nor an IPv4 address";
	return NULL;
}

/*
 * One TARGET entry: a host name, or one canonical IPv4 or IPv6 literal ("[v6]"
 * taken as that literal, written into out without brackets). -1 with why.
 */
int conf_check_host(const char *text, char *out, size_t out_size, char *err, size_t size)
{
	unsigned char bytes[16];
	char shown[INET_ADDRSTRLEN];
	const char *problem, *colon = strrchr(text, ':');
	size_t len = strlen(text);

	if (len >= out_size)
		return conf_fail(err, size, "TARGET: \"%s\" is too long for a host name", text);
	if (len > 2 && text[0] == '[' && text[len - 1] == ']')
		snprintf(out, out_size, "%.*s", (int)len - 2, text + 1);	/* "[v6]" */
	else
		snprintf(out, out_size, "%s", text);
	if (inet_pton(AF_INET6, out, bytes) == 1 ||
	    (out[0] != '[' && inet_pton(AF_INET, out, bytes) == 1 && strcmp(out, text) == 0))
		return 0;
	/* "name:443", "198.18.2.2:443", "[2001:db8::1]:443": one colon after the host. */
	if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
	    (strchr(text, ':') == colon || (text[0] == '[' && colon[-1] == ']')))
		return conf_fail(err, size, "TARGET: \"%s\": a port belongs in PORT", text);
	if (strchr(text, ':') || strchr(text, '['))
		return conf_fail(err, size, "TARGET: \"%s\" is not a host name or IP address", text);
	/* What the C library would connect to instead of the name the user wrote. */
	if (conf_numeric_ipv4(text, shown, sizeof shown))
		return conf_fail(err, size, "TARGET: \"%s\" is not a canonical IPv4 address (it "
				 "would be read as %s): write %s", text, shown, shown);
	if ((problem = conf_host_name_problem(text)))
		return conf_fail(err, size, "TARGET: \"%s\" %s", text, problem);
	return 0;
}

/* A copy of name in lower case, one trailing dot removed: how entries are compared. */
static void conf_route_pattern(const char *name, char *out, size_t size)
{
	size_t len = strlen(name);

	if (len > 1 && name[len - 1] == '.')
		len--;
	if (len >= size)
		len = size - 1;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[len] = '\0';
}

/* One entry of a routed TARGET: "*", "*.suffix" or a host name (no IP literal). */
static int conf_add_route(struct conf *conf, const char *entry, char *err, size_t size)
{
	struct conf_route *route = &conf->routes[conf->nroutes];
	char checked[CONF_TARGET_SIZE + 2];
	unsigned char bytes[16];
	const char *name = entry;

	if (conf->nroutes == CONF_MAX_ROUTES)
		return conf_fail(err, size, "TARGET: more than %d entries", CONF_MAX_ROUTES);
	route->kind = strcmp(entry, "*") == 0 ? CONF_ROUTE_ANY
		      : strncmp(entry, "*.", 2) == 0 ? CONF_ROUTE_SUFFIX
						      : CONF_ROUTE_EXACT;
	if (route->kind == CONF_ROUTE_SUFFIX)
		name = entry + 2;
	if (route->kind != CONF_ROUTE_ANY &&
	    conf_check_host(name, checked, sizeof checked, err, size) < 0)
		return -1;
	/* A literal would bypass the names the routing is about. */
	if (route->kind != CONF_ROUTE_ANY && (inet_pton(AF_INET, checked, bytes) == 1 ||
					      inet_pton(AF_INET6, checked, bytes) == 1))
		return conf_fail(err, size, "TARGET: \"%s\": an IP address is only allowed as the "
				 "single TARGET, not among names", entry);
	conf_route_pattern(entry, route->pattern, sizeof route->pattern);
	for (size_t i = 0; i < conf->nroutes; i++)
		if (strcmp(conf->routes[i].pattern, route->pattern) == 0)
			return conf_fail(err, size, "TARGET: \"%s\" is listed twice", entry);
	conf->nroutes++;
	return 0;
}

/* Routed mode: every entry, and the one the healthcheck probes. */
static int conf_parse_routes(struct conf *conf, char *list, char *err, size_t size)
{
	char *save = NULL;

	conf->routed = 1;
	for (char *word = strtok_r(list, CONF_SEPARATORS, &save); word;
	     word = strtok_r(NULL, CONF_SEPARATORS, &save))
		if (conf_add_route(conf, word, err, size) < 0)
			return -1;
	conf->target = conf->routes[0].pattern;
	for (size_t i = conf->nroutes; i-- > 0;)
		if (conf->routes[i].kind == CONF_ROUTE_EXACT)
			conf->target = conf->routes[i].pattern;
	return 0;
}

/* conf->targets: the patterns, space-separated (they fit: each came from TARGET). */
static int conf_join_routes(struct conf *conf)
{
	size_t used = 0;

	for (size_t i = 0; i < conf->nroutes; i++)
		used += (size_t)snprintf(conf->targets + used, sizeof conf->targets - used, "%s%s",
					 i ? " " : "", conf->routes[i].pattern);
	return 0;
}

int conf_entry_index(const struct conf *conf, const char *entry)
{
	char pattern[CONF_TARGET_SIZE + 2], checked[CONF_TARGET_SIZE + 2], err[8];

	if (strlen(entry) > CONF_TARGET_SIZE)
		return -1;
	if (!conf->routed) {
		/* The single TARGET: "[v6]" and a trailing dot written either way. */
		if (conf_check_host(entry, checked, sizeof checked, err, sizeof err) < 0)
			return -1;
		conf_route_pattern(checked, pattern, sizeof pattern);
		conf_route_pattern(conf->target, checked, sizeof checked);
		return strcmp(pattern, checked) == 0 ? 0 : -1;
	}
	conf_route_pattern(entry, pattern, sizeof pattern);
	for (size_t i = 0; i < conf->nroutes; i++)
		if (strcmp(conf->routes[i].pattern, pattern) == 0)
			return (int)i;
	return -1;
}

/*
 * TARGET: one host name or IP literal (the classic mode), or several names
 * and wildcards (routed mode, TCP only).
 */
static int conf_parse_target(struct conf *conf, conf_getter get, char *err, size_t size)
{
	const char *text = conf_get(get, "TARGET", NULL);
	char list[CONF_TARGETS_SIZE], *first;
	size_t words = 0;

	if (!text || !*conf_trim(text, list, sizeof list))
		return conf_fail(err, size, "TARGET: not set (the host to forward to)");
	if (strlen(text) >= sizeof list)
		return conf_fail(err, size, "TARGET: the list is too long");
	for (const char *at = list; *at; words++) {
		at += strcspn(at, CONF_SEPARATORS);
		at += strspn(at, CONF_SEPARATORS);
	}
	first = list;
	if (words > 1 || list[0] == '*')
		return conf_parse_routes(conf, list, err, size) < 0 ? -1 : conf_join_routes(conf);
	if (conf_check_host(first, conf->target_text, sizeof conf->target_text, err, size) < 0)
		return -1;
	conf->target = conf->target_text;
	snprintf(conf->targets, sizeof conf->targets, "%s", conf->target);
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
static int conf_parse_run_as(struct conf *conf, const char *given, char *err, size_t size)
{
	char uid[32], value[80];
	const char *text = conf_trim(given, value, sizeof value);
	const char *colon = strchr(text, ':');
	size_t uid_len = colon ? (size_t)(colon - text) : strlen(text);

	if (uid_len >= sizeof uid)
		return conf_fail(err, size, "RUN_AS: \"%s\" is not uid or uid:gid", given);
	memcpy(uid, text, uid_len);
	uid[uid_len] = '\0';
	if (conf_parse_number(uid, 0, UINT32_MAX - 1, &conf->run_uid) < 0 ||
	    conf_parse_number(colon ? colon + 1 : uid, 0, UINT32_MAX - 1, &conf->run_gid) < 0)
		return conf_fail(err, size, "RUN_AS: \"%s\" is not uid or uid:gid", given);
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

/* --- ALLOW_FROM --- */

/*
 * A word that can be a host name (container names included: letters,
 * digits, '-', '_', '.'). Digits and dots only is refused: getaddrinfo
 * would read "10.1" as 10.0.0.1, a network the user did not write.
 */
int conf_is_host_name(const char *word)
{
	size_t len = strlen(word);
	int has_letter = 0;

	if (len == 0 || len > DNS_MAX_NAME || word[0] == '-' || word[0] == '.')
		return 0;
	for (const char *at = word; *at; at++) {
		if ((*at >= 'a' && *at <= 'z') || (*at >= 'A' && *at <= 'Z') || *at == '-' ||
		    *at == '_')
			has_letter = 1;
		else if (!(*at >= '0' && *at <= '9') && *at != '.')
			return 0;
	}
	return has_letter;
}

static int conf_allow_add(struct conf_allow *allow, const struct conf_net *net, char *err,
			  size_t size)
{
	if (allow->count == CONF_MAX_ALLOW)
		return conf_fail(err, size, "ALLOW_FROM: more than %d addresses and networks",
				 CONF_MAX_ALLOW);
	allow->nets[allow->count++] = *net;
	return 0;
}

/* Calls each(word) for each word of ALLOW_FROM; stops at the first -1. */
static int conf_allow_words(struct conf *conf, char *err, size_t size,
			    int (*each)(struct conf *, const char *, char *, size_t))
{
	char copy[8192], *save = NULL;

	if (strlen(conf->allow.text) >= sizeof copy)
		return conf_fail(err, size, "ALLOW_FROM: the list is too long");
	strcpy(copy, conf->allow.text);
	for (char *word = strtok_r(copy, CONF_SEPARATORS, &save); word;
	     word = strtok_r(NULL, CONF_SEPARATORS, &save))
		if (each(conf, word, err, size) < 0)
			return -1;
	return 0;
}

/* IPs and CIDRs are stored now; host names are only checked, for conf_allow_resolve. */
static int conf_allow_parse_word(struct conf *conf, const char *word, char *err, size_t size)
{
	struct conf_net net;
	int status = conf_parse_net(word, &net);

	if (status == CONF_NET_OK)
		return conf_allow_add(&conf->allow, &net, err, size);
	if (status == CONF_NET_BAD_PREFIX)
		return conf_fail(err, size, "ALLOW_FROM: \"%s\" has a bad prefix length (0-%u)",
				 word, strchr(word, ':') ? 128 : 32);
	if (!conf_is_host_name(word))
		return conf_fail(err, size, "ALLOW_FROM: \"%s\" is not an IP address, CIDR or "
				 "host name", word);
	conf->allow.has_names = 1;
	return 0;
}

static int conf_parse_allow(struct conf *conf, const char *text, char *err, size_t size)
{
	if (!text || !text[strspn(text, CONF_SEPARATORS)])
		return 0;	/* empty or blank: everyone, as the old image */
	conf->allow.text = text;
	return conf_allow_words(conf, err, size, conf_allow_parse_word);
}

/* --- loading --- */

/* METRICS_PORT: empty for none; it must not be one of the forwarded ports. */
static int conf_parse_metrics_port(struct conf *conf, conf_getter get, char *err, size_t size)
{
	const char *text = conf_get(get, "METRICS_PORT", NULL);
	long port;

	if (!text)
		return 0;
	if (conf_parse_number(text, 1, 65535, &port) < 0)
		return conf_fail(err, size, "METRICS_PORT: \"%s\" is not a port number (1-65535)",
				 text);
	if (conf_has_port(conf, (uint16_t)port))
		return conf_fail(err, size, "METRICS_PORT: %ld is also in PORT", port);
	/* PORT=* leaves it out of the redirect (every_port.c). */
	conf->metrics_port = (uint16_t)port;
	return 0;
}

/* Routed mode's own checks, once every variable is read. */
static int conf_check_routed(const struct conf *conf, char *err, size_t size)
{
	if (conf->every_port && conf->mode == CONF_MODE_UDP)
		return conf_fail(err, size, "PORT: \"*\" needs MODE=tcp (UDP has no original "
				 "destination to read back)");
	if (conf->every_port && (conf->http_healthcheck || conf->smtp_healthcheck))
		return conf_fail(err, size, "%s: PORT=* redirects connections from outside only: "
				 "the probe from inside has no port to go through",
				 conf->http_healthcheck ? "HTTP_HEALTHCHECK" : "SMTP_HEALTHCHECK");
	if (!conf->routed)
		return 0;
	if (conf->mode == CONF_MODE_UDP)
		return conf_fail(err, size, "TARGET: \"%s\": several names or wildcards need "
				 "MODE=tcp (a datagram carries no name to route by)", conf->targets);
	if ((conf->http_healthcheck || conf->smtp_healthcheck) && strchr(conf->target, '*'))
		return conf_fail(err, size, "TARGET: \"%s\" has no exact name for the "
				 "healthcheck's $TARGET", conf->targets);
	return 0;
}

/* The variables this image adds to the old one's. */
static int conf_load_additions(struct conf *conf, conf_getter get, char *err, size_t size)
{
	if (conf_parse_allow(conf, conf_get(get, "ALLOW_FROM", NULL), err, size) < 0 ||
	    conf_parse_metrics_port(conf, get, err, size) < 0 ||
	    conf_number(get, "RESOLVE_INTERVAL", "0", 0, INT_MAX / 1000, &conf->resolve_interval,
			err, size) < 0 ||
	    conf_number(get, "ROUTE_TIMEOUT", "10", 1, 3600, &conf->route_timeout, err, size) < 0 ||
	    conf_flag(get, "ROUTE_ALLOW_PRIVATE", "0", &conf->route_allow_private, err, size) < 0 ||
	    conf_load_proxy(conf, get, err, size) < 0)
		return -1;
	return conf_check_routed(conf, err, size);
}

int conf_load(struct conf *conf, conf_getter get, char *err, size_t size)
{
	long verbose;

	memset(conf, 0, sizeof *conf);
	if (conf_parse_log_format(conf, conf_get(get, "LOG_FORMAT", "text"), err, size) < 0)
		return -1;	/* first: the errors of the others are logged in it */
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
	    conf_load_healthchecks(conf, get, err, size) < 0 ||
	    conf_load_additions(conf, get, err, size) < 0)
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

int conf_temp_path(char *out, size_t size, const char *name)
{
	const char *dir = getenv("TMPDIR");
	int len = snprintf(out, size, "%s/%s", dir && *dir ? dir : "/tmp", name);

	return len > 0 && (size_t)len < size ? 0 : -1;
}

/* 1 when name ends with suffix ("*.example.com" without its "*"), and is longer. */
static int conf_suffix_covers(const char *suffix, const char *name)
{
	size_t len = strlen(name), suffix_len = strlen(suffix);

	return len > suffix_len && strcmp(name + len - suffix_len, suffix) == 0;
}

int conf_route_match(const struct conf *conf, const char *name)
{
	int best = -1;
	size_t best_len = 0;

	for (size_t i = 0; i < conf->nroutes; i++) {
		const struct conf_route *route = &conf->routes[i];
		size_t len = strlen(route->pattern);

		if (route->kind == CONF_ROUTE_EXACT && strcmp(route->pattern, name) == 0)
			return (int)i;
		if (route->kind == CONF_ROUTE_SUFFIX && conf_suffix_covers(route->pattern + 1, name) &&
		    len > best_len) {
			best = (int)i;
			best_len = len;
		}
		if (route->kind == CONF_ROUTE_ANY && best < 0)
			best = (int)i;
	}
	return best;
}

size_t conf_listener_entries(const struct conf *conf)
{
	return conf->nentries + (conf->connect_port != 0);
}

int conf_is_connect_entry(const struct conf *conf, size_t entry)
{
	return conf->connect_port != 0 && entry == conf->nentries;
}

int conf_has_target_port(const struct conf *conf, uint16_t port)
{
	if (conf->every_port)
		return port != 0;
	for (size_t i = 0; i < conf->nentries; i++) {
		const struct conf_port *entry = &conf->entries[i];

		if (entry->to ? entry->to == port : entry->first <= port && port <= entry->last)
			return 1;
	}
	return 0;
}

int conf_has_port(const struct conf *conf, uint16_t port)
{
	for (size_t i = 0; i < conf->nports; i++)
		if (conf->ports[i] == port)
			return 1;
	return 0;
}
