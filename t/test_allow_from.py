"""ALLOW_FROM end to end: who may use the proxy. Clients outside the list are
closed (TCP) or dropped (UDP) before any upstream connection, and logged."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

import wl
from wl import IN_V4, IN_V6, OUT_V4, PX_IN_V4, PX_IN_V6

METRICS = 9100
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_peer.py")


class CountingServer:
    """Outside: a TCP server on OUT_V4:port that counts the connections it gets
    and answers each with "hi"."""

    def __init__(self, topo, port):
        self.accepted = 0
        self.sock = topo.socket_in(topo.outside)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((OUT_V4, port))
        self.sock.listen(64)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.sendall(b"hi")
            conn.close()

    def close(self):
        self.sock.close()


def refused(topo, port, host=PX_IN_V4):
    """True when the proxy closes the connection without relaying anything."""
    try:
        sock = topo.connect(port, host)
    except ConnectionError:
        return True
    try:
        sock.settimeout(3)
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True
    finally:
        sock.close()


def greeted(topo, port, host=PX_IN_V4):
    sock = topo.connect(port, host)
    try:
        return wl.recv_all(sock) == b"hi"
    finally:
        sock.close()


class TestAllowFromTcp(wl.TopologyCase):
    fresh_topology = True
    # other.test is a name the proxy resolves; the client is not at that address.
    hosts = {"app.test": IN_V4, "other.test": "198.18.1.99"}

    def setUp(self):
        super().setUp()
        self.server = CountingServer(self.topo, 7000)
        self.addCleanup(self.server.close)

    def test_listed_network_served_other_refused_before_upstream(self):
        proxy = self.topo.start_proxy(PORT="7000", ALLOW_FROM="198.18.9.0/24 2001:db8:1::/64",
                                      METRICS_PORT=METRICS)
        self.assertTrue(refused(self.topo, 7000), "a v4 client outside the list")
        self.assertTrue(greeted(self.topo, 7000, PX_IN_V6), "a v6 client inside the list")
        self.assertEqual(self.server.accepted, 1, "no upstream connection for the refused one")
        log = wl.wait_until(lambda: "not in ALLOW_FROM" in wl.read(proxy.log) and
                            wl.read(proxy.log), what="the refusal logged")
        self.assertRegex(log, r"whitelist: refused %s:\d+ -> 7000: not in ALLOW_FROM\n" %
                         re.escape(IN_V4))
        samples = wl.metrics(self.topo, METRICS)
        self.assertEqual(wl.metric(samples, "whitelist_connections_refused_total", port=7000,
                                   reason="allow_from"), 1)
        self.assertEqual(wl.metric(samples, "whitelist_connections_total", port=7000), 1)
        self.assertEqual(self.topo.children(self.listener(proxy)), [], "no relay forked")

    def test_v4_cidr_matches_v4_clients_of_the_dual_stack_socket(self):
        self.topo.start_proxy(PORT="7000", ALLOW_FROM="198.18.1.0/24")
        self.assertTrue(greeted(self.topo, 7000))
        self.assertTrue(refused(self.topo, 7000, PX_IN_V6), "v6 client, v4-only list")

    def test_host_names_resolve_with_the_system_resolver(self):
        proxy = self.topo.start_proxy(PORT="7000", ALLOW_FROM="app.test")
        self.assertTrue(greeted(self.topo, 7000))
        self.assertIn("ALLOW_FROM: 1 address or network (app.test), and loopback",
                      wl.read(proxy.log))
        self.topo.stop(proxy)
        self.topo.start_proxy(PORT="7000", ALLOW_FROM="other.test " + IN_V6)
        self.assertTrue(refused(self.topo, 7000))
        self.assertTrue(greeted(self.topo, 7000, PX_IN_V6))

    def test_a_name_that_does_not_resolve_stops_it_with_status_2(self):
        proxy = self.topo.start_proxy(wait_ports=False, PORT="7000",
                                      ALLOW_FROM="app.test missing.test")
        self.assertEqual(proxy.wait(10), 2)
        lines = wl.read(proxy.log).splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r'^whitelist: ALLOW_FROM: "missing\.test" does not resolve')
        self.assertFalse(self.topo.listening(self.topo.proxy, 7000))

    def test_a_flood_of_refusals_is_logged_once_a_second(self):
        proxy = self.topo.start_proxy(PORT="7000", ALLOW_FROM="198.18.9.9")
        started = time.monotonic()
        for _ in range(300):
            self.assertTrue(refused(self.topo, 7000))
        elapsed = time.monotonic() - started

        def accounted():
            log = wl.read(proxy.log)
            single = len(re.findall(r"refused \S+ -> 7000: not in ALLOW_FROM\n", log))
            more = sum(int(n) for n in re.findall(r"refused (\d+) more -> 7000: not in "
                                                  r"ALLOW_FROM \(logged once a second\)", log))
            return single + more == 300 and (single, more)

        single, more = wl.wait_until(accounted, timeout=3, what="every refusal accounted for")
        lines = wl.read(proxy.log).count("ALLOW_FROM")
        self.assertLessEqual(lines, 2 * (elapsed + 2), "rate-limited")
        self.assertGreater(more, 0)

    def test_the_healthcheck_from_loopback_is_never_refused(self):
        proxy = self.topo.start_proxy(PORT="7000", ALLOW_FROM="198.18.9.9",
                                      HTTP_HEALTHCHECK=1, HTTP_HEALTHCHECK_URL="http://$TARGET/")
        result = subprocess.run(["ip", "netns", "exec", self.topo.proxy, wl.HEALTHCHECK],
                                env=proxy.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=30)
        # "hi" is not HTTP: curl fails, but only after the proxy relayed to the target.
        self.assertEqual(self.server.accepted, 1, result.stdout + result.stderr)
        self.assertNotIn("not in ALLOW_FROM", wl.read(proxy.log))

    def listener(self, proxy):
        return wl.listener_of(self.topo, proxy, 7000)


class TestAllowFromUdp(wl.TopologyCase):
    fresh_topology = True

    def start_peer(self, mode):
        log = os.path.join(self.topo.tmp, "peer.log")
        open(log, "w").close()
        self.topo.start(self.topo.outside, [sys.executable, PEER, mode, OUT_V4, "5353", log])
        wl.wait_until(lambda: self.topo.listening(self.topo.outside, 5353, "udp"), what="peer")
        return lambda: wl.read(log).splitlines()

    def client(self, family=socket.AF_INET):
        sock = self.topo.socket_in(self.topo.inside, family, socket.SOCK_DGRAM)
        sock.settimeout(0.5)
        sock.connect((PX_IN_V4 if family == socket.AF_INET else PX_IN_V6, 5353))
        return sock

    def test_datagrams_of_others_dropped_before_a_session(self):
        records = self.start_peer("echo")
        proxy = self.topo.start_proxy(MODE="udp", PORT="5353", ALLOW_FROM="2001:db8:1::/64",
                                      METRICS_PORT=METRICS)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, METRICS), what="metrics")
        outsider, member = self.client(), self.client(socket.AF_INET6)
        for i in range(5):
            outsider.send(b"outsider %d" % i)
        member.send(b"member")
        self.assertEqual(member.recv(100), b"member")
        with self.assertRaises(socket.timeout):
            outsider.recv(100)
        self.assertEqual(len(records()), 1, "only the member's datagram reached the target")
        samples = wl.metrics(self.topo, METRICS)
        self.assertEqual(wl.metric(samples, "whitelist_connections_refused_total", port=5353,
                                   reason="allow_from"), 5)
        self.assertEqual(wl.metric(samples, "whitelist_connections_total", port=5353), 1)
        self.assertRegex(wl.read(proxy.log), r"refused %s:\d+ -> 5353: not in ALLOW_FROM" %
                         re.escape(IN_V4))
        outsider.close()
        member.close()

    def test_one_way_mode_drops_them_too(self):
        records = self.start_peer("sink")
        self.topo.start_proxy(MODE="udp", UDP_ANSWERS=0, PORT="5353", ALLOW_FROM=IN_V6)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="port")
        outsider, member = self.client(), self.client(socket.AF_INET6)
        for i in range(5):
            outsider.send(b"outsider %d" % i)
            member.send(b"member %d" % i)
        wl.wait_until(lambda: len(records()) >= 5, what="the member's datagrams")
        time.sleep(0.2)
        self.assertEqual(len(records()), 5)
        outsider.close()
        member.close()


class TestAllowFromConfig(unittest.TestCase):
    CASES = [
        ("10.0.0.0/33", 'ALLOW_FROM: "10.0.0.0/33" has a bad prefix length (0-32)'),
        ("2001:db8::/200", 'ALLOW_FROM: "2001:db8::/200" has a bad prefix length (0-128)'),
        ("10.0.0.1 app/24", 'ALLOW_FROM: "app/24" is not an IP address, CIDR or host name'),
        ("10.1", 'ALLOW_FROM: "10.1" is not an IP address, CIDR or host name'),
    ]

    def test_bad_entries_exit_2_naming_them(self):
        for value, message in self.CASES:
            with self.subTest(value=value):
                result = subprocess.run([wl.WHITELIST], env={"TARGET": "x", "ALLOW_FROM": value,
                                                             "PATH": "/usr/bin"},
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, timeout=5)
                self.assertEqual(result.returncode, 2)
                self.assertEqual(result.stderr, "whitelist: %s\n" % message)


if __name__ == "__main__":
    unittest.main()
