/*
 * hc_probe.h: the healthcheck's "http" and "smtp" checks: one libcurl
 * request to the URL through the proxy itself: the URL's host is pinned to
 * 127.0.0.1 on the proxy's port, which reaches the dual-stack listener.
 */
#ifndef WHITELIST_HC_PROBE_H
#define WHITELIST_HC_PROBE_H

#include <curl/curl.h>
#include <stdint.h>

#include "config.h"
#include "resolve.h"

struct hc_probe {
	char url[CONF_URL_SIZE];	/* what libcurl fetches */
	char host[DNS_MAX_NAME + 3];	/* as in the URL: "[v6]" in brackets */
	uint16_t port;			/* where the proxy listens for it */
	int port_written;		/* 1 when the port was added to the URL */
};

/* One kind of probe: its report name, its variable and the schemes it accepts. */
struct hc_probe_kind {
	const char *check;
	const char *variable;
	const char *schemes[2];
};

extern const struct hc_probe_kind HC_HTTP, HC_SMTP;

/* One probe: the request through 127.0.0.1:port, and its one report line; 1 when unhealthy. */
int hc_probe_run(const struct conf *conf, const struct hc_probe_kind *kind, const char *url,
		 const char *command, long timeout_ms);

/*
 * HTTP_HEALTHCHECK with CONNECT_PORT: the same URL fetched as an explicit
 * proxy's client would (a CONNECT tunnel through 127.0.0.1:CONNECT_PORT,
 * PROXY_USERS' first pair); 1 when unhealthy.
 */
int hc_probe_run_connect(const struct conf *conf, const char *url, long timeout_ms);

/* --- parts, for the unit tests --- */

/* From the configured URL ($TARGET already replaced) to what the probe fetches; -1 with err. */
int hc_probe_prepare(const struct conf *conf, const char *url, const struct hc_probe_kind *kind,
		     struct hc_probe *out, char *err, size_t size);

/*
 * The libcurl pin: CURLOPT_RESOLVE ("name:port:127.0.0.1", returns 0) for a
 * host name, CURLOPT_CONNECT_TO ("host:port:127.0.0.1:port", returns 1) for
 * an IP literal.
 */
int hc_probe_pin(const struct hc_probe *probe, char *out, size_t size);

/* An IPv6 TARGET put into a URL, bracketed: "http://[2001:db8::2]/". -1 when out is too small. */
int hc_bracket_target(const char *url, const char *target, char *out, size_t size);

#endif
