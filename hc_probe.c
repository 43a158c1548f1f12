/*
 * hc_probe.c: see hc_probe.h.
 */
#include "hc_probe.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_report.h"
#include "process.h"

#define HC_LOOPBACK "127.0.0.1"

const struct hc_probe_kind HC_HTTP = { "http", "HTTP_HEALTHCHECK_URL", { "http", "https" } };
const struct hc_probe_kind HC_SMTP = { "smtp", "SMTP_HEALTHCHECK_URL", { "smtp", "smtps" } };

/* 1 when text ends a URL's host: an optional ":port", then the path, query, fragment or end. */
static int hc_is_authority_end(const char *text)
{
	if (*text == ':') {
		text++;
		text += strspn(text, "0123456789");
	}
	return *text == '\0' || *text == '/' || *text == '?' || *text == '#';
}

/*
 * An IPv6 TARGET substituted for $TARGET gives "http://2001:db8::2/", which is
 * no URL: writes it with brackets, "http://[2001:db8::2]/". Anything else is
 * copied as it is. -1 when out is too small.
 */
int hc_bracket_target(const char *url, const char *target, char *out, size_t size)
{
	unsigned char bytes[16];
	const char *host = strstr(url, "://"), *at;
	size_t target_len = strlen(target);
	int len;

	if (inet_pton(AF_INET6, target, bytes) != 1 || !host)
		return snprintf(out, size, "%s", url) < (int)size ? 0 : -1;
	host += 3;
	at = strchr(host, '@');
	if (at && at < host + strcspn(host, "/?#"))
		host = at + 1;	/* user:password@ comes first */
	if (strncmp(host, target, target_len) != 0 || !hc_is_authority_end(host + target_len))
		return snprintf(out, size, "%s", url) < (int)size ? 0 : -1;
	len = snprintf(out, size, "%.*s[%s]%s", (int)(host - url), url, target, host + target_len);
	return len >= 0 && (size_t)len < size ? 0 : -1;
}

static int hc_scheme_ok(CURLU *parsed, const struct hc_probe_kind *kind)
{
	char *scheme = NULL;
	int ok = curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		 (strcmp(scheme, kind->schemes[0]) == 0 || strcmp(scheme, kind->schemes[1]) == 0);

	curl_free(scheme);
	return ok;
}

/* The URL's port part (flags: CURLU_DEFAULT_PORT for the scheme's own); 0 when none. */
static uint16_t hc_url_port(CURLU *parsed, unsigned flags)
{
	char *text = NULL;
	long port = 0;

	if (curl_url_get(parsed, CURLUPART_PORT, &text, flags) == CURLUE_OK)
		port = strtol(text, NULL, 10);
	curl_free(text);
	return port > 0 && port <= 65535 ? (uint16_t)port : 0;
}

/*
 * The port rule: the URL's own; else the scheme's default when it is in PORT;
 * else the first PORT, written into the URL so that the request says it too.
 */
static int hc_choose_port(CURLU *parsed, const struct conf *conf, struct hc_probe *out,
			  char *err, size_t size)
{
	char text[8], *url = NULL;

	if ((out->port = hc_url_port(parsed, 0))) {
		if (!conf_has_port(conf, out->port))
			return conf_fail(err, size, "port %u of %s is not in PORT", out->port,
					out->url);
		return 0;
	}
	out->port = hc_url_port(parsed, CURLU_DEFAULT_PORT);
	if (out->port && conf_has_port(conf, out->port))
		return 0;
	out->port = conf->ports[0];
	out->port_written = 1;
	snprintf(text, sizeof text, "%u", out->port);
	if (curl_url_set(parsed, CURLUPART_PORT, text, 0) != CURLUE_OK ||
	    curl_url_get(parsed, CURLUPART_URL, &url, 0) != CURLUE_OK ||
	    snprintf(out->url, sizeof out->url, "%s", url) >= (int)sizeof out->url) {
		curl_free(url);
		return conf_fail(err, size, "unable to add port %u to %s", out->port, out->url);
	}
	curl_free(url);
	return 0;
}

static int hc_probe_parse(CURLU *parsed, const struct conf *conf,
			  const struct hc_probe_kind *kind, struct hc_probe *out, char *err,
			  size_t size)
{
	char *host = NULL;
	int status;

	if (curl_url_set(parsed, CURLUPART_URL, out->url, 0) != CURLUE_OK)
		return conf_fail(err, size, "%s: \"%s\" is not a URL", kind->variable, out->url);
	if (!hc_scheme_ok(parsed, kind))
		return conf_fail(err, size, "%s: \"%s\" is not a %s:// or %s:// URL", kind->variable,
				out->url, kind->schemes[0], kind->schemes[1]);
	if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    snprintf(out->host, sizeof out->host, "%s", host) >= (int)sizeof out->host)
		status = conf_fail(err, size, "%s: \"%s\" has no usable host", kind->variable,
				  out->url);
	else
		status = hc_choose_port(parsed, conf, out, err, size);
	curl_free(host);
	return status;
}

/* From the configured URL ($TARGET already replaced) to what the probe fetches; -1 with err. */
int hc_probe_prepare(const struct conf *conf, const char *url,
			    const struct hc_probe_kind *kind, struct hc_probe *out, char *err,
			    size_t size)
{
	CURLU *parsed;
	int status;

	memset(out, 0, sizeof *out);
	if (hc_bracket_target(url, conf->target, out->url, sizeof out->url) < 0)
		return conf_fail(err, size, "%s: \"%s\" is too long", kind->variable, url);
	if (!(parsed = curl_url()))
		return conf_fail(err, size, "out of memory");
	status = hc_probe_parse(parsed, conf, kind, out, err, size);
	curl_url_cleanup(parsed);
	return status;
}

/*
 * The libcurl pin that sends the probe to the proxy's own port on loopback:
 * CURLOPT_RESOLVE ("name:port:127.0.0.1", returns 0) for a host name. An IP
 * literal gets CURLOPT_CONNECT_TO ("host:port:127.0.0.1:port", returns 1):
 * CURLOPT_RESOLVE cannot parse an IPv6 host, and it only fills the DNS cache,
 * which libcurl is not bound to consult for a literal that needs no lookup.
 */
int hc_probe_pin(const struct hc_probe *probe, char *out, size_t size)
{
	struct in_addr v4;

	if (probe->host[0] == '[' || inet_pton(AF_INET, probe->host, &v4) == 1) {
		snprintf(out, size, "%s:%u:" HC_LOOPBACK ":%u", probe->host, probe->port,
			 probe->port);
		return 1;
	}
	snprintf(out, size, "%s:%u:" HC_LOOPBACK, probe->host, probe->port);
	return 0;
}

static size_t hc_discard(char *data, size_t size, size_t count, void *user)
{
	(void)data;
	(void)user;
	return size * count;
}

/*
 * connect_port 0: the URL's host pinned to 127.0.0.1 on the probe's port.
 * Else through CONNECT_PORT as an explicit-proxy client: a CONNECT tunnel
 * (even for http://), with PROXY_USERS' first pair when there are some.
 */
static CURL *hc_curl_setup(const struct conf *conf, const struct hc_probe *probe,
			   const char *command, long timeout_ms, uint16_t connect_port,
			   struct curl_slist **pins, char *errbuf)
{
	char pin[sizeof probe->host + 40], proxy[40];
	int connect_to = hc_probe_pin(probe, pin, sizeof pin);
	CURL *curl = curl_easy_init();

	if (!curl || !(*pins = curl_slist_append(NULL, pin))) {
		curl_easy_cleanup(curl);
		return NULL;
	}
	curl_easy_setopt(curl, CURLOPT_URL, probe->url);
	if (connect_port) {
		snprintf(proxy, sizeof proxy, "http://" HC_LOOPBACK ":%u", connect_port);
		curl_easy_setopt(curl, CURLOPT_PROXY, proxy);
		curl_easy_setopt(curl, CURLOPT_HTTPPROXYTUNNEL, 1L);
		if (conf->nusers)
			curl_easy_setopt(curl, CURLOPT_PROXYUSERPWD, conf->users[0].pair);
	} else {
		curl_easy_setopt(curl, connect_to ? CURLOPT_CONNECT_TO : CURLOPT_RESOLVE, *pins);
		curl_easy_setopt(curl, CURLOPT_PROXY, "");	/* http_proxy must not divert it */
	}
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, hc_discard);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "whitelist-healthcheck");
	if (command)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, command);
	return curl;
}

/* The report line of a finished transfer; 1 when it failed. Reads curl: call before cleanup. */
static int hc_probe_report(const struct hc_probe_kind *kind, const char *what, CURL *curl,
			   CURLcode result, char *err, long long started)
{
	long long elapsed = proc_now_ms() - started;
	char *peer = NULL;
	long code = 0;

	err[strcspn(err, "\n")] = '\0';
	for (size_t len = strlen(err); len > 0 && err[len - 1] == ' '; len--)
		err[len - 1] = '\0';	/* libcurl ends some messages with a space */
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(curl, CURLINFO_PRIMARY_IP, &peer);
	if (result != CURLE_OK)
		return hc_fail(kind->check, "%s: %s (%lld ms)", what,
			       err[0] ? err : curl_easy_strerror(result), elapsed);
	if (!peer || strcmp(peer, HC_LOOPBACK) != 0)
		/* The pin did not apply: the answer came around the proxy and proves nothing. */
		return hc_fail(kind->check, "%s: answered by %s, not through the proxy", what,
			       peer ? peer : "an unknown address");
	/* Any HTTP status passes, as in the old image: the target answered through us. */
	hc_pass(kind->check, "%s: %ld (%lld ms)", what, code, elapsed);
	return 0;
}

/* One probe, pinned to the port or (connect_port) through CONNECT_PORT; its one report line. */
static int hc_probe_through(const struct conf *conf, const struct hc_probe_kind *kind,
			    const char *url, const char *command, long timeout_ms,
			    uint16_t connect_port)
{
	char err[CURL_ERROR_SIZE] = "", what[CONF_URL_SIZE + 64];
	struct curl_slist *pins = NULL;
	struct hc_probe probe;
	long long started;
	CURLcode result;
	CURL *curl;
	int failed;

	if (hc_probe_prepare(conf, url, kind, &probe, err, sizeof err) < 0)
		return hc_fail(kind->check, "%s", err);
	snprintf(what, sizeof what, "%s%s%s through " HC_LOOPBACK ":%u%s", probe.url,
		 command ? " " : "", command ? command : "",
		 connect_port ? connect_port : probe.port, connect_port ? " (CONNECT_PORT)" : "");
	if (!(curl = hc_curl_setup(conf, &probe, command, timeout_ms, connect_port, &pins, err)))
		return hc_fail(kind->check, "%s: unable to set up libcurl", what);
	started = proc_now_ms();
	result = curl_easy_perform(curl);
	failed = hc_probe_report(kind, what, curl, result, err, started);
	curl_easy_cleanup(curl);
	curl_slist_free_all(pins);
	return failed;
}

int hc_probe_run(const struct conf *conf, const struct hc_probe_kind *kind,
			const char *url, const char *command, long timeout_ms)
{
	return hc_probe_through(conf, kind, url, command, timeout_ms, 0);
}

int hc_probe_run_connect(const struct conf *conf, const char *url, long timeout_ms)
{
	return hc_probe_through(conf, &HC_HTTP, url, NULL, timeout_ms, conf->connect_port);
}
