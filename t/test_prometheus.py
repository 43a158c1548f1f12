"""Prometheus' own tools on what deploy/ ships and on real scrapes.

- A real scrape of METRICS_PORT, after real traffic, passes `promtool check
  metrics` (Prometheus' linter of the text format), in each configuration
  that renders a different page: classic TCP (a relay, an upstream error, an
  ALLOW_FROM refusal), routed mode (a routed name, a refused one) and UDP
  (a session).
- deploy/prometheus/alerts.yml passes `promtool check rules`, and its unit
  tests (alerts_test.yml: each alert fires on a series that should fire it
  and stays quiet on the others) pass `promtool test rules`.
- deploy/grafana/whitelist.json: every query parses as PromQL (each one is
  checked by promtool as a recording rule) and names only metrics that the
  real scrapes above have; the alerts too, but for Prometheus' own `up`.

promtool comes with Debian's `prometheus` package (t/deps.sh).
"""

import json
import os
import re
import socket
import sys
import tempfile
import unittest

import wl
from wl import IN_V6, OUT_V4, PX_IN_V4, PX_IN_V6

DEPLOY = os.path.join(wl.TOP, "deploy")
ALERTS = os.path.join(DEPLOY, "prometheus", "alerts.yml")
ALERTS_TEST = os.path.join(DEPLOY, "prometheus", "alerts_test.yml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "whitelist.json")
METRICS = 9100
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_peer.py")
# Series that Prometheus makes itself for every target: not on any /metrics page.
PROMETHEUS_OWN = {"up"}

# PromQL's words that are not metric names: functions, aggregations, keywords.
PROMQL_WORDS = set("""
abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max clamp_min
count count_over_time count_values day_of_month day_of_week days_in_month delta deriv exp floor
group histogram_quantile holt_winters hour idelta increase irate label_join label_replace ln log10
log2 last_over_time max max_over_time min min_over_time minute month predict_linear quantile
quantile_over_time rate resets round scalar sgn sort sort_desc sqrt stddev stddev_over_time stdvar
stdvar_over_time sum sum_over_time time timestamp topk vector year
and or unless by without on ignoring group_left group_right bool offset
""".split())


def promtool(*args, stdin=None):
    return wl.run("promtool", *args, input=stdin, check=False)


def metric_names(expr):
    """The metric names a PromQL expression reads: what is left once label
    matchers, grouping lists, ranges, strings, numbers, Grafana's $variables
    and PromQL's own words are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)
    expr = re.sub(r"(?<![\w:])\d[\w.]*", " ", expr)  # numbers, durations (5m)
    words = re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)
    return {w for w in words if w not in PROMQL_WORDS}


def dashboard_queries():
    """Every PromQL query of the dashboard: its panels' targets and its variables'."""
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    queries = [target["expr"] for panel in dashboard["panels"]
               for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            match = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query)
            if not match:
                raise AssertionError("a variable's query this test cannot read: %s" % query)
            queries.append(match.group(1))
    return queries


def alert_exprs():
    """The expressions of alerts.yml (python3-yaml reads it)."""
    import yaml
    with open(ALERTS) as f:
        rules = yaml.safe_load(f)
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def lint(test, body, what):
    """promtool check metrics on one scrape: status 0 and nothing to say."""
    result = promtool("check", "metrics", stdin=body)
    test.assertEqual(result.returncode, 0, "%s: promtool check metrics:\n%s%s\n--- the page:\n%s"
                     % (what, result.stdout, result.stderr, body))
    test.assertEqual((result.stdout + result.stderr).strip(), "")


def page(topo):
    status, headers, body = wl.scrape(topo, METRICS)
    if status != "HTTP/1.0 200 OK":
        raise AssertionError("scrape: %s" % status)
    return body


def names_in(body):
    return {name for name, _ in wl.parse_metrics(body)}


class PromtoolCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        wl.need_program("promtool", "prometheus")


class TestRules(PromtoolCase):
    def test_alerts_pass_check_rules(self):
        result = promtool("check", "rules", ALERTS)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("SUCCESS: %d rules found" % len(alert_exprs()), result.stdout)

    def test_alerts_unit_tests_pass(self):
        result = promtool("test", "rules", ALERTS_TEST)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("SUCCESS", result.stdout)

    def test_every_alert_has_unit_tests(self):
        with open(ALERTS_TEST) as f:
            tested = set(re.findall(r"alertname: (\w+)", f.read()))
        self.assertEqual(tested, set(alert_exprs()))

    def test_dashboard_queries_are_promql(self):
        """Each query as a recording rule ($__rate_interval as 5m): promtool parses it."""
        queries = dashboard_queries()
        self.assertGreater(len(queries), 5)
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as rules:
            json.dump({"groups": [{"name": "dashboard", "rules": [
                {"record": "dashboard:query%d" % i,
                 "expr": q.replace("$__rate_interval", "5m").replace('"$instance"', '".*"')}
                for i, q in enumerate(queries)]}]}, rules)
            rules.flush()
            result = promtool("check", "rules", rules.name)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_metric_names_are_read_from_queries(self):
        """The helper the scrape test relies on finds names and only names."""
        self.assertEqual(metric_names(
            'sum by (port) (rate(whitelist_bytes_total{instance=~"$instance"}'
            '[$__rate_interval])) / on(port) group_left max(up{job="x"} offset 5m)'),
            {"whitelist_bytes_total", "up"})


@wl.need_root
class TestRealScrapes(PromtoolCase):
    """Three proxies, each in its own topology, each scraped after real traffic."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pages = {}

    def topology(self, **kwargs):
        topo = wl.Topology(**kwargs)
        self.addCleanup(topo.close)
        return topo

    def scrape_when(self, topo, done):
        """The page, once done(samples) holds (the relays count as they end)."""
        return wl.wait_until(lambda: (lambda body: body if done(wl.parse_metrics(body)) else None)(
            page(topo)), what="the counters of the traffic just sent")

    def test_1_classic_tcp(self):
        topo = self.topology()
        wl.start_nginx(topo)
        topo.start_proxy(PORT="80 81", METRICS_PORT=METRICS, ALLOW_FROM="198.18.1.0/24")
        wl.wait_until(lambda: topo.listening(topo.proxy, METRICS), what="metrics port")
        self.assertEqual(wl.http_get(topo)[0], "HTTP/1.1 200 OK")
        wl.recv_all(topo.connect(81))  # nothing listens on 81 outside: an upstream error
        refused = topo.connect(80, host=PX_IN_V6)  # from IN_V6: not in ALLOW_FROM
        self.assertEqual(wl.recv_all(refused), b"")
        body = self.scrape_when(topo, lambda s: (
            wl.metric(s, "whitelist_upstream_errors_total", port=81) == 1 and
            wl.metric(s, "whitelist_connections_refused_total", port=80,
                      reason="allow_from") == 1 and
            wl.metric(s, "whitelist_bytes_total", port=80, direction="down") > 0))
        lint(self, body, "classic TCP")
        self.pages["tcp"] = body

    def test_2_routed(self):
        topo = self.topology(hosts={"a.test": OUT_V4})
        wl.start_nginx(topo)
        topo.start_proxy(TARGET="a.test b.test", PORT="80", METRICS_PORT=METRICS)
        wl.wait_until(lambda: topo.listening(topo.proxy, METRICS), what="metrics port")
        for host, status in (("a.test", b"HTTP/1.1 200 OK"), ("c.test", b"HTTP/1.1 403")):
            sock = topo.connect(80)
            sock.sendall(b"GET /hello HTTP/1.0\r\nHost: %s\r\n\r\n" % host.encode())
            self.assertTrue(wl.recv_all(sock).startswith(status), host)
            sock.close()
        body = self.scrape_when(topo, lambda s: (
            wl.metric(s, "whitelist_routed_total", port=80, target="a.test") == 1 and
            wl.metric(s, "whitelist_connections_refused_total", port=80,
                      reason="not_allowed") == 1))
        lint(self, body, "routed")
        self.pages["routed"] = body

    def test_3_udp(self):
        topo = self.topology()
        log = os.path.join(topo.tmp, "peer.log")
        topo.start(topo.outside, [sys.executable, PEER, "echo", OUT_V4, "5353", log])
        wl.wait_until(lambda: topo.listening(topo.outside, 5353, "udp"), what="udp peer")
        topo.start_proxy(MODE="udp", PORT="5353", METRICS_PORT=METRICS)
        wl.wait_until(lambda: topo.listening(topo.proxy, METRICS), what="metrics port")
        sock = topo.socket_in(topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(3)
        sock.connect((PX_IN_V4, 5353))
        sock.send(b"ping")
        self.assertEqual(sock.recv(100), b"ping")
        sock.close()
        body = self.scrape_when(topo, lambda s: (
            wl.metric(s, "whitelist_connections_total", port=5353) == 1))
        lint(self, body, "UDP")
        self.pages["udp"] = body

    def test_4_dashboard_and_alerts_name_only_scraped_metrics(self):
        if len(self.pages) != 3:
            self.fail("the three scrapes did not all succeed: %s" % sorted(self.pages))
        scraped = set().union(*(names_in(body) for body in self.pages.values()))
        for query in dashboard_queries():
            names = metric_names(query)
            self.assertTrue(names, "no metric in the dashboard's query %s" % query)
            self.assertLessEqual(names, scraped, "the dashboard's query %s" % query)
        for alert, expr in alert_exprs().items():
            names = metric_names(expr)
            self.assertTrue(names, alert)
            self.assertLessEqual(names, scraped | PROMETHEUS_OWN, "alert %s" % alert)
        # Every family the proxy can render is on some dashboard panel.
        shown = set().union(*(metric_names(q) for q in dashboard_queries()))
        self.assertEqual(scraped - shown, set())


if __name__ == "__main__":
    unittest.main()
