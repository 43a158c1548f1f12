"""LOG_FORMAT=json end to end: a proxy in namespaces with VERBOSE=1 goes through
every event (start, resolve, accept, connect, close with its bytes, routed mode's
refusals of each reason, the loop guard, an upstream connect refused, SIGTERM)
with nginx and dnsmasq as peers; every line it writes must parse with
json.loads, carry time (RFC 3339, UTC, microseconds), level and event, and each
event its fields. The healthcheck's lines too, passing and failing, and a bad
LOG_FORMAT exits 2 naming it."""

import datetime
import json
import re
import socket
import subprocess
import time

import test_udp
import wl
from wl import IN_V4, OUT_V4, OUT2_V4, PX_IN_V4

# a.test: nginx; down.test: an address where nothing listens (the upstream refuses);
# self.test: the proxy's own address (the loop guard); private.wild.test: loopback
# through a wildcard (the destination guard).
DNS = ("{a} a.test\n{b} down.test\n{px} self.test\n127.0.0.1 private.wild.test\n"
       "{a} ok.wild.test\n").format(a=OUT_V4, b=OUT2_V4, px=PX_IN_V4)
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
LEVELS = {"info", "warning", "error", "fatal"}
REASONS = {"not_allowed", "no_name", "not_tls_or_http", "timeout", "private_address"}


def parse_lines(test, text):
    """Every line of text as a JSON object with time, level and event; the list."""
    objects = []
    now = datetime.datetime.now(datetime.timezone.utc)
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError("not JSON: %r\nin:\n%s" % (line, text)) from None
        test.assertIsInstance(obj, dict, line)
        test.assertRegex(obj.get("time", ""), TIME, line)
        stamp = datetime.datetime.strptime(obj["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
        # UTC whatever TZ says (the proxy runs with TZ set to 5 hours west).
        test.assertLess(abs((now - stamp).total_seconds()), 300, line)
        test.assertIn(obj.get("level"), LEVELS, line)
        test.assertRegex(obj.get("event", ""), r"^[a-z_]+$", line)
        test.assertIsInstance(obj.get("message"), str, line)
        objects.append(obj)
    return objects


def events(objects, name, **fields):
    """The objects of one event whose fields have these values."""
    return [obj for obj in objects if obj["event"] == name and
            all(obj.get(key) == value for key, value in fields.items())]


def exchange(topo, data, port=80, wait_close=True):
    """Sends data to the proxy from inside; what came back before it closed."""
    sock = topo.connect(port)
    try:
        sock.sendall(data)
        return wl.recv_all(sock) if wait_close else b""
    except ConnectionResetError:  # closed with our bytes unread (the loop guard)
        return b""
    finally:
        sock.close()


def healthcheck(topo, env, ns):
    return subprocess.run(["ip", "netns", "exec", ns, wl.HEALTHCHECK], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


class TestJsonLogs(wl.TopologyCase):
    @classmethod
    def start_peers(cls, topo):
        cls.nginx = wl.start_nginx(topo)
        cls.dns = wl.start_dnsmasq(topo, DNS)

    def start(self, **variables):
        return self.topo.start_proxy(LOG_FORMAT="json", VERBOSE=1, TZ="EST5", **variables)

    def stop_and_parse(self, proxy):
        self.assertEqual(self.topo.stop(proxy), 0, wl.read(proxy.log))
        return parse_lines(self, wl.read(proxy.log))

    def wait_for(self, proxy, name, **fields):
        """Until the proxy's log has that event (the lines so far all JSON)."""
        return wl.wait_until(lambda: events(parse_lines(self, wl.read(proxy.log)), name,
                                            **fields), what="a %s event %s" % (name, fields))

    def test_routed_session_every_event(self):
        proxy = self.start(TARGET="a.test down.test self.test *.wild.test", PORT="80",
                           PRE_RESOLVE=1, NAMESERVERS=OUT_V4, ROUTE_TIMEOUT=1)
        request = b"GET /hello HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
        answer = exchange(self.topo, request)
        self.assertTrue(answer.endswith(b"hello from %s\n" % OUT_V4.encode()), answer)
        exchange(self.topo, b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
        exchange(self.topo, b"GET / HTTP/1.0\r\n\r\n")
        exchange(self.topo, b"SSH-2.0-OpenSSH_9.2\r\n")
        exchange(self.topo, b"GET / HTTP/1.1\r\nHost: private.wild.test\r\n\r\n")
        exchange(self.topo, b"GET / HTTP/1.1\r\nHost: self.test\r\n\r\n")
        exchange(self.topo, b"GET / HTTP/1.1\r\nHost: down.test\r\n\r\n")
        exchange(self.topo, b"", wait_close=True)  # silent: ROUTE_TIMEOUT ends it
        self.wait_for(proxy, "refuse", reason="timeout")
        self.wait_for(proxy, "close")
        hc = healthcheck(self.topo, proxy.env, self.topo.proxy)
        logged = self.stop_and_parse(proxy)

        start, = events(logged, "start")
        self.assertEqual((start["level"], start["mode"], start["ports"]), ("info", "routed", "80"))
        self.assertIn("a.test", start["target"])
        for name, addr in (("a.test", OUT_V4), ("down.test", OUT2_V4), ("self.test", PX_IN_V4)):
            self.assertEqual(len(events(logged, "resolve", target=name, address=addr)), 1,
                             logged)
        accepts = events(logged, "accept", port="80")
        self.assertEqual(len(accepts), 8, logged)
        for accept in accepts:
            self.assertRegex(accept["client"], r"^%s:\d+$" % re.escape(IN_V4))
            self.assertIsInstance(accept["child"], int)
        connect, = events(logged, "connect", address=OUT_V4 + ":80")
        close, = events(logged, "close", port="80", address=OUT_V4 + ":80")
        self.assertEqual(close["client"], connect["client"])
        self.assertEqual((close["bytes_in"], close["bytes_out"]), (len(request), len(answer)))
        self.assertIsInstance(close["duration_ms"], int)
        self.assertGreaterEqual(close["duration_ms"], 0)
        refusals = events(logged, "refuse", port="80")
        self.assertEqual({obj["reason"] for obj in refusals}, REASONS, refusals)
        for obj in refusals:
            self.assertEqual(obj["level"], "warning")
            self.assertRegex(obj["client"], r"^%s:\d+$" % re.escape(IN_V4))
        loop, = events(logged, "loop", port="80", target="self.test", address=PX_IN_V4)
        self.assertEqual(loop["level"], "error")
        error, = events(logged, "error", to_port=80, target="down.test", address=OUT2_V4 + ":80")
        self.assertEqual((error["level"], error["error"]), ("error", "Connection refused"))
        self.assertEqual(len(events(logged, "stop", signal="SIGTERM")), 1, logged)

        # The healthcheck, in the same form: the loop check fails (stderr), the rest pass.
        passed, failed = parse_lines(self, hc.stdout), parse_lines(self, hc.stderr)
        self.assertEqual(hc.returncode, 1, hc.stdout + hc.stderr)
        self.assertIn("processes", [obj["check"] for obj in passed])
        self.assertEqual({(obj["event"], obj["level"]) for obj in passed},
                         {("healthcheck", "info")})
        loop_check, = [obj for obj in failed if obj["check"] == "loop"]
        self.assertEqual((loop_check["event"], loop_check["level"]), ("healthcheck", "error"))
        self.assertIn("self.test", loop_check["message"])

    def test_forwarding_mode_and_an_unhealthy_healthcheck(self):
        proxy = self.start(TARGET=OUT_V4, PORT="80")
        status, body = wl.http_get(self.topo)
        self.assertEqual((status, body), ("HTTP/1.1 200 OK", b"hello from %s\n" % OUT_V4.encode()))
        self.wait_for(proxy, "close")
        # No proxy in the inside namespace: the processes check fails, on stderr, as JSON.
        hc = healthcheck(self.topo, proxy.env, self.topo.inside)
        logged = self.stop_and_parse(proxy)
        start, = events(logged, "start")
        self.assertEqual((start["mode"], start["ports"], start["target"]), ("tcp", "80", OUT_V4))
        close, = events(logged, "close", port="80", address=OUT_V4 + ":80")
        self.assertEqual(close["bytes_in"], len("GET /hello HTTP/1.0\r\nHost: x\r\n\r\n"))
        self.assertGreater(close["bytes_out"], len(body))
        self.assertEqual(hc.returncode, 1)
        self.assertEqual(hc.stdout, "")
        failed, = parse_lines(self, hc.stderr)
        self.assertEqual((failed["event"], failed["level"], failed["check"]),
                         ("healthcheck", "error", "processes"))

    def test_udp_session(self):
        test_udp.start_peer(self.topo, "echo", 5353)
        proxy = self.start(MODE="udp", PORT="5353", UDP_TIMEOUT=1)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="udp")
        sock = test_udp.client(self.topo)
        try:
            for data in (b"one", b"three"):
                sock.send(data)
                self.assertEqual(sock.recv(100), data)
        finally:
            sock.close()
        self.wait_for(proxy, "close", port="5353")  # UDP_TIMEOUT ends the session
        logged = self.stop_and_parse(proxy)
        start, = events(logged, "start")
        self.assertEqual(start["mode"], "udp")
        accept, = events(logged, "accept", port="5353")
        self.assertIsInstance(accept["session"], int)
        self.assertEqual(len(events(logged, "connect", port="5353", address=OUT_V4 + ":5353")), 1)
        close, = events(logged, "close", port="5353", client=accept["client"])
        self.assertEqual((close["bytes_in"], close["bytes_out"], close["datagrams_in"],
                          close["datagrams_out"]), (8, 8, 2, 2))
        self.assertGreaterEqual(close["duration_ms"], 1000)

    def test_errors_of_generic_lines_are_json_too(self):
        # A bad variable with LOG_FORMAT=json: the fatal line is JSON, exit 2.
        env = self.topo.proxy_env(LOG_FORMAT="JSON", PORT="http")
        result = subprocess.run(["ip", "netns", "exec", self.topo.proxy, wl.WHITELIST], env=env,
                                stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(result.returncode, 2, result.stderr)
        line, = parse_lines(self, result.stderr)
        self.assertEqual((line["level"], line["event"]), ("fatal", "error"))
        self.assertIn('PORT: "http"', line["message"])
        # ... and its own healthcheck says so in JSON.
        hc = healthcheck(self.topo, env, self.topo.proxy)
        failed, = parse_lines(self, hc.stderr)
        self.assertEqual(failed["check"], "config")

    def test_a_bad_log_format_exits_2_naming_it(self):
        env = self.topo.proxy_env(LOG_FORMAT="yaml")
        result = subprocess.run(["ip", "netns", "exec", self.topo.proxy, wl.WHITELIST], env=env,
                                stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual((result.returncode, result.stderr),
                         (2, 'whitelist: LOG_FORMAT: "yaml" is not text or json\n'))
