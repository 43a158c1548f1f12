"""IPv6 end to end: v6 clients, a v6 TARGET (literal, AAAA-only name, through a
v6 nameserver), and hosts where IPv6 is off, which must still serve IPv4."""

import os
import re
import socket
import subprocess
import sys
import unittest

import wl
from wl import IN_V6, OUT_V4, OUT_V6, PX_IN_V4, PX_IN_V6

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "udp_peer.py")
HELLO = b"hello from %s\n" % OUT_V4.encode()  # nginx's one server block says so on v6 too


def start_echo(topo, addr):
    log = os.path.join(topo.tmp, "echo-%s.log" % addr.replace(":", "_"))
    topo.start(topo.outside, [sys.executable, PEER, "echo", addr, "5353", log])
    wl.wait_until(lambda: topo.listening(topo.outside, 5353, "udp"), what="udp echo")


def udp_roundtrip(topo, host, data=b"ping"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = topo.socket_in(topo.inside, family, socket.SOCK_DGRAM)
    sock.settimeout(3)
    try:
        sock.connect((host, 5353))
        sock.send(data)
        return sock.recv(100)
    finally:
        sock.close()


def healthcheck(topo, proxy):
    return subprocess.run(["ip", "netns", "exec", topo.proxy, wl.HEALTHCHECK], env=proxy.env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


class TestIpv6(wl.TopologyCase):
    fresh_topology = True
    hosts = {"v6only.test": OUT_V6}

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)

    def test_v6_clients_of_the_default_listener_tcp_and_udp(self):
        proxy = self.topo.start_proxy(PORT="80", VERBOSE=1)
        self.assertEqual(wl.http_get(self.topo, host=PX_IN_V6), ("HTTP/1.1 200 OK", HELLO))
        self.assertRegex(wl.read(proxy.log), r"connect \[%s\]:\d+ -> 80 -> %s:80" %
                         (re.escape(IN_V6), re.escape(OUT_V4)))
        self.topo.stop(proxy)
        start_echo(self.topo, OUT_V4)
        self.topo.start_proxy(MODE="udp", PORT="5353")
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="udp")
        self.assertEqual(udp_roundtrip(self.topo, PX_IN_V6), b"ping")

    def test_target_as_a_v6_literal(self):
        proxy = self.topo.start_proxy(TARGET=OUT_V6, PORT="80", VERBOSE=1)
        self.assertEqual(wl.http_get(self.topo), ("HTTP/1.1 200 OK", HELLO))
        self.assertEqual(wl.http_get(self.topo, host=PX_IN_V6)[0], "HTTP/1.1 200 OK")
        self.assertRegex(wl.read(proxy.log), r"connect %s:\d+ -> 80 -> \[%s\]:80" %
                         (re.escape(wl.IN_V4), re.escape(OUT_V6)))

    def test_udp_to_a_v6_literal(self):
        start_echo(self.topo, OUT_V6)
        self.topo.start_proxy(TARGET=OUT_V6, MODE="udp", PORT="5353")
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="udp")
        self.assertEqual(udp_roundtrip(self.topo, PX_IN_V4), b"ping")

    def test_pre_resolve_takes_aaaa_when_there_is_no_a_record(self):
        # Asked over IPv6 too: NAMESERVERS holds only the v6 address of dnsmasq.
        # --local: .test is dnsmasq's own, so the A question gets "no data", not SERVFAIL.
        wl.start_dnsmasq(self.topo, "%s v6only.test\n" % OUT_V6,
                         extra=["--listen-address=" + OUT_V6, "--local=/test/"])
        proxy = self.topo.start_proxy(TARGET="v6only.test", PRE_RESOLVE=1, NAMESERVERS=OUT_V6,
                                      PORT="80", METRICS_PORT=9100)
        self.assertIn("resolved v6only.test to %s" % OUT_V6, wl.read(proxy.log))
        self.assertEqual(wl.http_get(self.topo), ("HTTP/1.1 200 OK", HELLO))
        samples = wl.metrics(self.topo, 9100)
        self.assertEqual(wl.metric(samples, "whitelist_target_info", target="v6only.test",
                                   address=OUT_V6), 1)
        result = healthcheck(self.topo, proxy)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("dns: v6only.test still resolves to %s" % OUT_V6, result.stdout)

    def test_system_resolver_name_with_only_a_v6_address(self):
        self.topo.start_proxy(TARGET="v6only.test", PORT="80")
        self.assertEqual(wl.http_get(self.topo), ("HTTP/1.1 200 OK", HELLO))


class TestIpv6Off(wl.TopologyCase):
    """A host without IPv6 still starts and serves IPv4 clients."""

    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)

    def serves_v4(self, proxy):
        self.assertEqual(wl.http_get(self.topo), ("HTTP/1.1 200 OK", HELLO))
        self.assertEqual(wl.metric(wl.metrics(self.topo, 9100), "whitelist_connections_total",
                                   port=80), 1)
        result = healthcheck(self.topo, proxy)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_disabled_by_sysctl(self):
        wl.run("ip", "netns", "exec", self.topo.proxy, "sysctl", "-qw",
               "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
               "net.ipv6.conf.lo.disable_ipv6=1")
        self.assertNotIn("inet6", self.topo.ip(self.topo.proxy, "addr").stdout,
                         "the namespace has no IPv6 address left")
        proxy = self.topo.start_proxy(PORT="80", METRICS_PORT=9100)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 9100), what="metrics")
        self.serves_v4(proxy)

    def test_no_ipv6_in_the_kernel_falls_back_to_0_0_0_0(self):
        noipv6 = os.path.join(self.topo.tmp, "noipv6")
        wl.run("cc", "-O2", "-o", noipv6, os.path.join(HERE, "noipv6.c"))
        proxy = self.topo.start_proxy(wrapper=[noipv6], PORT="80", METRICS_PORT=9100)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 9100), what="metrics")
        listening = wl.run("ip", "netns", "exec", self.topo.proxy, "ss", "-ltnH").stdout
        self.assertRegex(listening, r"0\.0\.0\.0:80 ")
        self.assertNotIn("[::]", listening)
        self.serves_v4(proxy)
        self.topo.stop(proxy)
        start_echo(self.topo, OUT_V4)
        self.topo.start_proxy(wrapper=[noipv6], MODE="udp", PORT="5353")
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="udp")
        self.assertEqual(udp_roundtrip(self.topo, PX_IN_V4), b"ping")


if __name__ == "__main__":
    unittest.main()
