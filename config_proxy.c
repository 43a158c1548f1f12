/*
 * config_proxy.c: the variables of explicit proxy mode. CONNECT_PORT (a
 * listener for clients with HTTPS_PROXY / HTTP_PROXY), and the credentials
 * it asks for: PROXY_USERS ("name:password" words) and PROXY_USERS_FILE
 * (one pair a line, so a password may hold spaces; read once, at start).
 * Also which ports such a client may ask for. config.c calls it; it calls
 * nobody but libc (its own error writer, so the module graph stays a tree).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_PROXY_SEPARATORS " \t\r\n"
#define CONF_PROXY_LIST_SIZE 16384	/* PROXY_USERS as a whole */

/* One error line into err, as conf_fail: `return conf_proxy_fail(...)`. */
__attribute__((format(printf, 3, 4)))
static int conf_proxy_fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -1;
}

/* The value of name, or NULL when unset or blank. */
static const char *conf_proxy_get(conf_getter get, const char *name)
{
	const char *value = get(name);

	return value && value[strspn(value, CONF_PROXY_SEPARATORS)] ? value : NULL;
}

/* 1 when PORT listens on port (never with PORT=*, whose redirect leaves CONNECT_PORT out). */
static int conf_proxy_listened(const struct conf *conf, long port)
{
	for (size_t i = 0; i < conf->nports; i++)
		if (conf->ports[i] == port)
			return 1;
	return 0;
}

/* CONNECT_PORT: 1-65535, TCP only, not one of PORT's nor METRICS_PORT. */
static int conf_proxy_port(struct conf *conf, const char *text, char *err, size_t size)
{
	char *end;
	long port;

	text += strspn(text, CONF_PROXY_SEPARATORS);
	errno = 0;
	port = strtol(text, &end, 10);
	end += strspn(end, CONF_PROXY_SEPARATORS);
	if (text[0] < '0' || text[0] > '9' || *end || errno || port < 1 || port > 65535)
		return conf_proxy_fail(err, size, "CONNECT_PORT: \"%s\" is not a port number (1-65535)",
				 text);
	if (conf_proxy_listened(conf, port))
		return conf_proxy_fail(err, size, "CONNECT_PORT: %ld is also in PORT", port);
	if (conf->metrics_port == port)
		return conf_proxy_fail(err, size, "CONNECT_PORT: %ld is also METRICS_PORT", port);
	if (conf->mode != CONF_MODE_TCP)
		return conf_proxy_fail(err, size, "CONNECT_PORT: %ld needs MODE=tcp (CONNECT is a TCP "
				 "tunnel)", port);
	conf->connect_port = (uint16_t)port;
	/* Its listener is an entry like PORT's (one more room is kept for it). */
	conf->entries[conf->nentries] = (struct conf_port){ .first = (uint16_t)port,
							    .last = (uint16_t)port };
	snprintf(conf->entries[conf->nentries].text, sizeof conf->entries[0].text, "%ld", port);
	return 0;
}

/* One "name:password" pair from source (the variable's name, for the error). */
static int conf_proxy_add_user(struct conf *conf, const char *source, const char *pair,
			       size_t len, char *err, size_t size)
{
	struct conf_user *user = &conf->users[conf->nusers];
	const char *colon = memchr(pair, ':', len);

	if (!colon || colon == pair)
		return conf_proxy_fail(err, size, "%s: \"%.*s\" is not name:password", source,
				 (int)(len > 64 ? 64 : len), pair);
	if (len >= sizeof user->pair)
		return conf_proxy_fail(err, size, "%s: the pair of \"%.*s\" is longer than %d", source,
				 (int)(colon - pair > 64 ? 64 : colon - pair), pair,
				 CONF_USER_SIZE - 1);
	if (conf->nusers == CONF_MAX_USERS)
		return conf_proxy_fail(err, size, "%s: more than %d users", source, CONF_MAX_USERS);
	memcpy(user->pair, pair, len);
	user->pair[len] = '\0';
	user->len = len;
	user->name_len = (size_t)(colon - pair);
	conf->nusers++;
	return 0;
}

/* PROXY_USERS: space-separated pairs. */
static int conf_proxy_users(struct conf *conf, const char *text, char *err, size_t size)
{
	char list[CONF_PROXY_LIST_SIZE], *save = NULL;

	if (strlen(text) >= sizeof list)
		return conf_proxy_fail(err, size, "PROXY_USERS: the list is too long");
	strcpy(list, text);
	for (char *word = strtok_r(list, CONF_PROXY_SEPARATORS, &save); word;
	     word = strtok_r(NULL, CONF_PROXY_SEPARATORS, &save))
		if (conf_proxy_add_user(conf, "PROXY_USERS", word, strlen(word), err, size) < 0)
			return -1;
	return 0;
}

/* PROXY_USERS_FILE: a pair a line; empty lines and lines starting with '#' skipped. */
static int conf_proxy_users_file(struct conf *conf, const char *path, char *err, size_t size)
{
	FILE *file = fopen(path, "re");
	char line[CONF_USER_SIZE + 2];
	int status = 0;

	if (!file)
		return conf_proxy_fail(err, size, "PROXY_USERS_FILE: unable to read \"%s\": %s", path,
				 strerror(errno));
	while (status == 0 && fgets(line, sizeof line, file)) {
		size_t len = strlen(line);

		if (len == sizeof line - 1 && line[len - 1] != '\n')
			status = conf_proxy_fail(err, size, "PROXY_USERS_FILE: a line of \"%s\" is longer "
					   "than %d", path, CONF_USER_SIZE - 1);
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (status == 0 && len > 0 && line[0] != '#')
			status = conf_proxy_add_user(conf, "PROXY_USERS_FILE", line, len, err, size);
	}
	fclose(file);
	return status;
}

int conf_load_proxy(struct conf *conf, conf_getter get, char *err, size_t size)
{
	const char *port = conf_proxy_get(get, "CONNECT_PORT");
	const char *users = conf_proxy_get(get, "PROXY_USERS");
	const char *file = conf_proxy_get(get, "PROXY_USERS_FILE");

	if (port && conf_proxy_port(conf, port, err, size) < 0)
		return -1;
	if ((users || file) && !port)
		return conf_proxy_fail(err, size, "%s: set, but no CONNECT_PORT to ask credentials on",
				 users ? "PROXY_USERS" : "PROXY_USERS_FILE");
	if ((users && conf_proxy_users(conf, users, err, size) < 0) ||
	    (file && conf_proxy_users_file(conf, file, err, size) < 0))
		return -1;
	if ((users || file) && conf->nusers == 0)
		return conf_proxy_fail(err, size, "%s: no name:password in it",
				 users ? "PROXY_USERS" : "PROXY_USERS_FILE");
	return 0;
}
