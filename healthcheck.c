/*
 * healthcheck: the image's HEALTHCHECK program, also run by hand with
 * `docker exec`. It reads the proxy's own environment (config.h), looks at
 * the proxy from inside the container and prints one line per check: stdout
 * when it passes, stderr ("unhealthy: ...") when it fails. Exit 0 is healthy
 * and 1 unhealthy; Docker reserves 2, so a bad variable is reported as 1 too.
 *
 * - processes, loop: the proxy's published state and /proc (hc_procs.h);
 *   works as root without CAP_SYS_PTRACE, as Docker and podman run it.
 * - dns (PRE_RESOLVE=1): the address in use still TARGET's (hc_dns.h).
 * - http, smtp: one libcurl request through the proxy itself (hc_probe.h);
 *   with CONNECT_PORT, http once more as an explicit-proxy client (CONNECT).
 */
#include <curl/curl.h>
#include <stdlib.h>

#include "config.h"
#include "hc_dns.h"
#include "hc_probe.h"
#include "hc_procs.h"
#include "hc_report.h"
#include "log.h"

static const char *hc_env(const char *name)
{
	return getenv(name);
}

/* The probes through the proxy, as configured; 1 when one failed. */
static int hc_probes(const struct conf *conf)
{
	int failed = 0;

	if (!conf->http_healthcheck && !conf->smtp_healthcheck)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return hc_fail("curl", "unable to initialise libcurl");
	if (conf->http_healthcheck)
		failed |= hc_probe_run(conf, &HC_HTTP, conf->http_url, NULL, conf->http_timeout_ms);
	if (conf->http_healthcheck && conf->connect_port)
		failed |= hc_probe_run_connect(conf, conf->http_url, conf->http_timeout_ms);
	if (conf->smtp_healthcheck)
		failed |= hc_probe_run(conf, &HC_SMTP, conf->smtp_url, conf->smtp_command,
				       conf->smtp_timeout_ms);
	curl_global_cleanup();
	return failed;
}

int main(void)
{
	static struct conf conf;
	struct hc_proxy proxy;
	char err[CONF_ERR_SIZE];
	int failed;

	int loaded = conf_load(&conf, hc_env, err, sizeof err);

	log_set_format(conf.log_format);	/* the proxy's LOG_FORMAT: its lines in the same form */
	if (loaded < 0)
		return hc_fail("config", "%s", err);
	failed = hc_check_processes(&conf, &proxy);
	if (!proxy.shared)
		return 1;	/* nothing to probe through */
	failed |= hc_check_loop(&conf, &proxy);
	if (conf.pre_resolve)
		failed |= hc_check_dns(&conf, proxy.shared);
	failed |= hc_probes(&conf);
	hc_proxy_release(&proxy);
	return failed ? 1 : 0;
}
