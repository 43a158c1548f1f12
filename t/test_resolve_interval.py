"""RESOLVE_INTERVAL end to end: with PRE_RESOLVE=1 the proxy asks NAMESERVERS
again every interval. New connections follow a move, open ones keep their
address, a failed lookup keeps the last good address, and the healthcheck's
DNS check follows the address in use."""

import os
import re
import signal
import socket
import subprocess
import sys
import unittest

import wl
from wl import OUT_V4, OUT2_V4, PX_IN_V4

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_peer.py")
REQUEST = b"GET /hello HTTP/1.0\r\nHost: x\r\n\r\n"


def hello(addr):
    return b"hello from %s\n" % addr.encode()


def established_to(topo, addr):
    out = wl.run("ip", "netns", "exec", topo.outside, "ss", "-tnH", "state", "established",
                 "( sport = :80 )").stdout
    return sum(1 for line in out.splitlines() if line.split()[2] == "%s:80" % addr)


class TestResolveInterval(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)
        wl.start_nginx(self.topo, addr=OUT2_V4, addr6=None)
        self.dns = self.start_dns("%s target.test\n" % OUT_V4)

    def start_dns(self, hosts):
        return wl.start_dnsmasq(self.topo, hosts, extra=["--local=/test/", "--log-queries"])

    def move_target(self, addr):
        with open(self.dns.hosts, "w") as f:
            f.write("%s target.test\n" % addr)
        self.dns.send_signal(signal.SIGHUP)

    def start_proxy(self, **variables):
        env = dict(TARGET="target.test", PRE_RESOLVE=1, NAMESERVERS=OUT_V4, PORT="80",
                   RESOLVE_INTERVAL=1, METRICS_PORT=9100)
        env.update(variables)
        proxy = self.topo.start_proxy(**env)
        if env.get("MODE", "tcp") == "tcp":
            wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 9100), what="metrics")
        return proxy

    def resolved_lines(self, proxy):
        return re.findall(r"resolved target\.test to (\S+)", wl.read(proxy.log))

    def test_new_connections_follow_a_move_open_ones_keep_theirs(self):
        proxy = self.start_proxy()
        self.assertIn("resolving target.test again every 1 s", wl.read(proxy.log))
        self.assertEqual(wl.http_get(self.topo)[1], hello(OUT_V4))
        kept = self.topo.connect(80)
        wl.wait_until(lambda: established_to(self.topo, OUT_V4) == 1, what="the open relay")
        self.move_target(OUT2_V4)
        wl.wait_until(lambda: self.resolved_lines(proxy) == [OUT_V4, OUT2_V4], timeout=5,
                      what="the move noticed")
        self.assertEqual(wl.http_get(self.topo)[1], hello(OUT2_V4), "a new connection")
        kept.sendall(REQUEST)
        self.assertTrue(wl.recv_all(kept).endswith(hello(OUT_V4)), "the open one")
        kept.close()
        samples = wl.metrics(self.topo, 9100)
        self.assertEqual(wl.metric(samples, "whitelist_target_info", target="target.test",
                                   address=OUT2_V4), 1)
        result = subprocess.run(["ip", "netns", "exec", self.topo.proxy, wl.HEALTHCHECK],
                                env=proxy.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("healthcheck: dns: target.test still resolves to %s" % OUT2_V4,
                      result.stdout)

    def test_a_failed_lookup_keeps_the_address_in_use(self):
        proxy = self.start_proxy()
        self.topo.stop(self.dns)
        wl.wait_until(lambda: re.search(r"TARGET: lookup of target\.test failed \(.+\), "
                                        r"keeping %s\n" % re.escape(OUT_V4),
                                        wl.read(proxy.log)), timeout=6, what="the failure")
        self.assertEqual(wl.http_get(self.topo)[1], hello(OUT_V4))
        failures = wl.metric(wl.metrics(self.topo, 9100), "whitelist_resolve_failures_total")
        self.assertGreaterEqual(failures, 1)
        self.assertIsNone(proxy.poll())
        self.dns = self.start_dns("%s target.test\n" % OUT2_V4)
        wl.wait_until(lambda: self.resolved_lines(proxy) == [OUT_V4, OUT2_V4], timeout=6,
                      what="the next good answer used")
        self.assertEqual(wl.http_get(self.topo)[1], hello(OUT2_V4))

    def test_an_address_still_in_the_answer_is_kept(self):
        """DNS round-robin: both addresses answered, in turns; no move, no log line."""
        self.topo.stop(self.dns)
        self.dns = self.start_dns("%s target.test\n%s target.test\n" % (OUT_V4, OUT2_V4))
        proxy = self.start_proxy()
        first = self.resolved_lines(proxy)
        self.assertEqual(len(first), 1)
        wl.wait_until(lambda: wl.read(self.dns.log).count("query[A] target.test") >= 4,
                      timeout=8, what="three lookups after the first")
        self.assertEqual(self.resolved_lines(proxy), first)
        for _ in range(5):
            self.assertEqual(wl.http_get(self.topo)[1], hello(first[0]))

    def test_without_pre_resolve_it_says_it_has_no_effect(self):
        proxy = self.topo.start_proxy(TARGET="target.test", PORT="80", RESOLVE_INTERVAL=5)
        self.assertIn("RESOLVE_INTERVAL: no effect without PRE_RESOLVE=1", wl.read(proxy.log))
        self.assertNotIn("resolving target.test again", wl.read(proxy.log))

    def test_udp_one_way_socket_follows(self):
        logs = {}
        for addr in (OUT_V4, OUT2_V4):
            logs[addr] = os.path.join(self.topo.tmp, "sink-%s.log" % addr)
            open(logs[addr], "w").close()
            self.topo.start(self.topo.outside, [sys.executable, PEER, "sink", addr, "5353",
                                                logs[addr]])
        wl.wait_until(lambda: wl.run("ip", "netns", "exec", self.topo.outside, "ss", "-lunH")
                      .stdout.count(":5353") == 2, what="two sinks")
        proxy = self.start_proxy(MODE="udp", UDP_ANSWERS=0, PORT="5353")
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="port")
        sock = self.topo.socket_in(self.topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect((PX_IN_V4, 5353))
        sock.send(b"before")
        wl.wait_until(lambda: wl.read(logs[OUT_V4]), what="the first sink")
        self.move_target(OUT2_V4)
        wl.wait_until(lambda: len(self.resolved_lines(proxy)) == 2, timeout=5, what="the move")
        sock.send(b"after")
        wl.wait_until(lambda: wl.read(logs[OUT2_V4]), what="the second sink")
        self.assertEqual(len(wl.read(logs[OUT_V4]).splitlines()), 1)
        sock.close()


class TestResolveIntervalConfig(unittest.TestCase):
    def test_bad_values_exit_2_naming_them(self):
        for value in ("-1", "30s", "1.5"):
            with self.subTest(value=value):
                result = subprocess.run([wl.WHITELIST], env={"TARGET": "x", "PATH": "/usr/bin",
                                                             "RESOLVE_INTERVAL": value},
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, timeout=5)
                self.assertEqual(result.returncode, 2)
                self.assertRegex(result.stderr, r'^whitelist: RESOLVE_INTERVAL: "%s" is not a '
                                 r'number from 0 to \d+\n$' % re.escape(value))


if __name__ == "__main__":
    unittest.main()
