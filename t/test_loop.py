"""The loop guard: a TARGET that leads back to the proxy itself.

The README's own set-up gives the proxy the target's name as a network alias;
without PRE_RESOLVE the system resolver then answers the proxy's own address.
The same happens with TARGET set to localhost or the proxy's own address, and
with DNS sinkholes answering 0.0.0.0 or 127.0.0.1. Each connection must be
refused before any upstream connection (so nothing chains and no slot stays
taken), counted, logged once a minute per port, and the healthcheck must say
so while it happens.
"""

import re
import socket
import subprocess
import time

import wl
from wl import OUT_V4, PX_IN_V4, PX_OUT_V4

CLIENTS = 20
ALIAS_ADVICE = "set PRE_RESOLVE=1 so that NAMESERVERS are asked"
DNS_ADVICE = "NAMESERVERS answered it with PRE_RESOLVE=1: point the name, or NAMESERVERS, elsewhere"
LITERAL_ADVICE = "an IP address of this proxy: TARGET must name another host"


def healthcheck(topo, proxy):
    return subprocess.run(["ip", "netns", "exec", topo.proxy, wl.HEALTHCHECK], env=proxy.env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


class TestLoopGuard(wl.TopologyCase):
    fresh_topology = True
    hosts = {"target.test": PX_IN_V4}  # the network alias: the name is the proxy

    @classmethod
    def start_peers(cls, topo):
        wl.start_nginx(topo)

    def refused_at_once(self, port=80):
        """A client's connection ends with no byte and no wait."""
        sock = self.topo.connect(port)
        started = time.monotonic()
        try:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        finally:
            sock.close()
        self.assertEqual(data, b"")
        self.assertLess(time.monotonic() - started, 1.0)

    def assert_guarded(self, proxy, target, address, advice, port=80):
        for _ in range(CLIENTS):
            self.refused_at_once(port)
        sentence = "port %d: TARGET %s is this proxy itself (%s): %s" % (port, target, address,
                                                                        advice)
        log = wl.read(proxy.log)
        self.assertEqual(log.count(sentence), 1, "one line a minute, at VERBOSE=0:\n" + log)
        self.assertNotIn("unable to connect", log)
        # Never chained: each client was accepted once, and no relay connected anywhere.
        samples = wl.metrics(self.topo, 9100)
        self.assertEqual(wl.metric(samples, "whitelist_connections_total", port=port), CLIENTS)
        self.assertEqual(wl.metric(samples, "whitelist_connections_refused_total", port=port,
                                   reason="loop"), CLIENTS)
        wl.wait_until(lambda: wl.metric(wl.metrics(self.topo, 9100),
                                        "whitelist_connections_active", port=port) == 0,
                      what="every slot given back")
        self.assertEqual(wl.established(self.topo, self.topo.proxy, port), 0)
        result = healthcheck(self.topo, proxy)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("healthcheck: loop: unhealthy: " + sentence, result.stderr)

    def test_the_network_alias_without_pre_resolve(self):
        proxy = self.topo.start_proxy(TARGET="target.test", PORT="80", METRICS_PORT=9100,
                                      MAX_CONNECTIONS=3)
        self.assert_guarded(proxy, "target.test", PX_IN_V4, ALIAS_ADVICE)

    def test_localhost(self):
        proxy = self.topo.start_proxy(TARGET="localhost", PORT="80", METRICS_PORT=9100)
        self.assert_guarded(proxy, "localhost", "127.0.0.1", ALIAS_ADVICE)

    def test_the_proxy_s_own_address(self):
        proxy = self.topo.start_proxy(TARGET=PX_OUT_V4, PORT="80", METRICS_PORT=9100)
        self.assert_guarded(proxy, PX_OUT_V4, PX_OUT_V4, LITERAL_ADVICE)

    def test_dns_sinkhole_answers(self):
        for address in ("0.0.0.0", "127.0.0.1"):
            with self.subTest(address=address):
                dns = wl.start_dnsmasq(self.topo, "%s sink.test\n" % address)
                proxy = self.topo.start_proxy(TARGET="sink.test", PRE_RESOLVE=1,
                                              NAMESERVERS=OUT_V4, PORT="80", METRICS_PORT=9100)
                try:
                    self.assert_guarded(proxy, "sink.test", address, DNS_ADVICE)
                finally:
                    self.topo.stop(proxy)
                    self.topo.stop(dns)

    def test_udp_sessions_do_not_loop(self):
        proxy = self.topo.start_proxy(TARGET=PX_IN_V4, MODE="udp", PORT="5353",
                                      METRICS_PORT=9100, wait_ports=False)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="udp")
        sock = self.topo.socket_in(self.topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
        try:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                sock.sendto(b"ping", (PX_IN_V4, 5353))
                time.sleep(0.01)
        finally:
            sock.close()
        samples = wl.metrics(self.topo, 9100)
        sessions = wl.metric(samples, "whitelist_connections_total", port=5353)
        self.assertLessEqual(sessions, 4, "about one attempt a second, not one per datagram")
        self.assertGreaterEqual(wl.metric(samples, "whitelist_connections_refused_total",
                                          port=5353, reason="loop"), 1)
        sentence = "port 5353: TARGET %s is this proxy itself (%s): %s" % (PX_IN_V4, PX_IN_V4,
                                                                          LITERAL_ADVICE)
        self.assertEqual(wl.read(proxy.log).count(sentence), 1)
        self.assertIn("loop: unhealthy: " + sentence, healthcheck(self.topo, proxy).stderr)


class TestNoLoop(wl.TopologyCase):
    """A proxy whose TARGET is elsewhere: the loop check passes, nothing is refused."""

    @classmethod
    def start_peers(cls, topo):
        wl.start_nginx(topo)

    def test_healthy_and_nothing_refused(self):
        proxy = self.topo.start_proxy(PORT="80", METRICS_PORT=9100)
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")
        samples = wl.metrics(self.topo, 9100)
        self.assertEqual(wl.metric(samples, "whitelist_connections_refused_total", port=80,
                                   reason="loop"), 0)
        result = healthcheck(self.topo, proxy)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(re.search(r"^healthcheck: loop: no connection led back", result.stdout,
                                  re.M))
