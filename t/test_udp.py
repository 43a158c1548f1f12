"""UDP end to end: sessions with answers, and one-way forwarding."""

import hashlib
import os
import signal
import socket
import sys
import time
import unittest

import wl
from wl import OUT_V4, PX_IN_V4

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_peer.py")


def start_peer(topo, mode, port, addr=OUT_V4):
    log = os.path.join(topo.tmp, "peer-%s-%s-%d.log" % (mode, addr, port))
    open(log, "w").close()
    proc = topo.start(topo.outside, [sys.executable, PEER, mode, addr, str(port), log])
    wl.wait_until(lambda: "%s:%d" % (addr, port) in wl.run(
        "ip", "netns", "exec", topo.outside, "ss", "-lunH").stdout, what="udp peer")
    proc.records = lambda: [line.split() for line in wl.read(log).splitlines()]
    return proc


def client(topo, timeout=3.0):
    sock = topo.socket_in(topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    sock.connect((PX_IN_V4, 5353))
    return sock


class TestUdpSessions(wl.TopologyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.echo = start_peer(cls.topo, "echo", 5353)
        cls.proxy = cls.topo.start_proxy(MODE="udp", PORT="5353", VERBOSE=1, UDP_TIMEOUT=30,
                                         MAX_CONNECTIONS=200)
        wl.wait_until(lambda: cls.topo.listening(cls.topo.proxy, 5353, "udp"), what="udp port")

    def test_answers_come_back_in_order(self):
        sock = client(self.topo)
        sent = [b"datagram %d" % i for i in range(200)]
        for data in sent:
            sock.send(data)
        self.assertEqual([sock.recv(65535) for _ in sent], sent)
        sock.close()

    def test_two_clients_without_cross_talk(self):
        first, second = client(self.topo), client(self.topo)
        for i in range(20):
            first.send(b"first %d" % i)
            second.send(b"second %d" % i)
        self.assertEqual([first.recv(100) for _ in range(20)], [b"first %d" % i for i in range(20)])
        self.assertEqual([second.recv(100) for _ in range(20)],
                         [b"second %d" % i for i in range(20)])
        first.close()
        second.close()

    def test_a_burst_of_new_clients_gets_one_upstream_socket_each(self):
        before = len(self.echo.records())
        clients = [client(self.topo) for _ in range(50)]
        for round_ in range(5):
            for index, sock in enumerate(clients):
                sock.send(b"client %d round %d" % (index, round_))
        for index, sock in enumerate(clients):
            got = [sock.recv(100) for _ in range(5)]
            self.assertEqual(got, [b"client %d round %d" % (index, r) for r in range(5)])
            sock.close()
        records = self.echo.records()[before:]
        self.assertEqual(len(records), 250)
        self.assertEqual(len({port for _, port, _, _ in records}), 50,
                         "one upstream source port per client")

    def test_20000_byte_datagram_passes_whole(self):
        sock = client(self.topo)
        data = os.urandom(20000)
        sock.send(data)
        answer = sock.recv(65535)
        self.assertEqual(len(answer), 20000)
        self.assertEqual(hashlib.sha256(answer).digest(), hashlib.sha256(data).digest())
        sock.close()

    def test_a_session_gets_its_clients_datagrams_directly_in_order(self):
        """The fast path: a socket connected to the client, taken over without reordering."""
        sock = client(self.topo)
        # Windows of 150: a socket buffer (rmem_max) holds about 270 small datagrams.
        for window in range(4):
            sent = [b"burst %d.%d" % (window, i) for i in range(150)]
            for data in sent:
                sock.send(data)
            self.assertEqual([sock.recv(100) for _ in sent], sent, "in order, handover or not")
        name = "%s]:%d" % sock.getsockname()  # [::ffff:198.18.1.2]:port in ss
        out = wl.run("ip", "netns", "exec", self.topo.proxy, "ss", "-unH", "state",
                     "established").stdout
        self.assertIn(name, out, "the session's own socket, connected to the client")
        for i in range(100):
            sock.send(b"after %d" % i)
        self.assertEqual([sock.recv(100) for _ in range(100)],
                         [b"after %d" % i for i in range(100)])
        sock.close()

    def test_bursts_of_equal_sizes_arrive_whole_and_in_order(self):
        """Runs of equal-size datagrams go out as one UDP GSO send; each must arrive alone."""
        sock = client(self.topo)
        # 10 at a time: a socket buffer (rmem_max) holds about 13 fragmented 9000-byte ones.
        for size in (1, 512, 1472, 1500, 9000):
            sent = [os.urandom(size) for _ in range(10)] + [os.urandom(max(size // 2, 1))]
            for data in sent:
                sock.send(data)
            self.assertEqual([sock.recv(65535) for _ in sent], sent, "size %d" % size)
        sock.close()

    def test_verbose_session_lines(self):
        sock = client(self.topo)
        sock.send(b"hello")
        self.assertEqual(sock.recv(100), b"hello")
        name = "%s:%d" % sock.getsockname()
        log = wl.wait_until(lambda: "session %s -> 5353 -> %s:5353" % (name, OUT_V4)
                            in wl.read(self.proxy.log) and wl.read(self.proxy.log),
                            what="session line")
        self.assertRegex(log, r"accept %s -> 5353 \(session \d+, \d+/200\)" % name)
        sock.close()


class TestUdpTimeoutAndLimit(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        self.echo = start_peer(self.topo, "echo", 5353)

    def test_sessions_end_after_udp_timeout(self):
        proxy = self.topo.start_proxy(MODE="udp", PORT="5353", UDP_TIMEOUT=1, VERBOSE=1)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="port")
        listener = wl.listener_of(self.topo, proxy, 5353)
        sock = client(self.topo)
        sock.send(b"x")
        self.assertEqual(sock.recv(10), b"x")
        started = time.monotonic()
        self.assertEqual(len(self.topo.children(listener)), 1)
        wl.wait_until(lambda: not self.topo.children(listener), timeout=5, what="session end")
        elapsed = time.monotonic() - started
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 2.5)
        self.assertRegex(wl.read(proxy.log), r"session end .*: 1 datagrams \(1 bytes\) up, "
                         r"1 datagrams \(1 bytes\) down")
        sock.send(b"again")
        self.assertEqual(sock.recv(10), b"again", "a new session for the same client")
        sock.close()

    def test_at_the_limit_new_clients_wait_and_are_served_later(self):
        proxy = self.topo.start_proxy(MODE="udp", PORT="5353", UDP_TIMEOUT=1,
                                      MAX_CONNECTIONS=2)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="port")
        listener = wl.listener_of(self.topo, proxy, 5353)
        first, second, third = client(self.topo), client(self.topo), client(self.topo)
        for sock in (first, second):
            sock.send(b"busy")
            self.assertEqual(sock.recv(10), b"busy")
        started = time.monotonic()
        third.send(b"waiting 1")
        third.send(b"waiting 2")
        self.assertEqual(len(self.topo.children(listener)), 2, "the limit holds")
        self.assertEqual(third.recv(20), b"waiting 1", "not refused, not dropped")
        self.assertEqual(third.recv(20), b"waiting 2")
        self.assertGreater(time.monotonic() - started, 0.8, "served once a session ended")
        self.assertLessEqual(len(self.topo.children(listener)), 2)
        for sock in (first, second, third):
            sock.close()


class TestUdpDnsChange(wl.TopologyCase):
    fresh_topology = True

    def test_each_new_session_resolves_target_again(self):
        first = start_peer(self.topo, "echo", 5353)
        second = start_peer(self.topo, "echo", 5353, addr=wl.OUT2_V4)
        dns = wl.start_dnsmasq(self.topo, "%s target.test\n" % OUT_V4)
        self.topo.start_proxy(MODE="udp", PORT="5353", TARGET="target.test", wait_ports=False)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="port")
        sock = client(self.topo)
        sock.send(b"before")
        self.assertEqual(sock.recv(100), b"before")
        with open(dns.hosts, "w") as f:
            f.write("%s target.test\n" % wl.OUT2_V4)
        dns.send_signal(signal.SIGHUP)
        wl.wait_until(lambda: wl.OUT2_V4 in wl.run(
            "ip", "netns", "exec", self.topo.proxy, "getent", "hosts", "target.test",
            check=False).stdout, what="dnsmasq answering the new address")
        other = client(self.topo)
        other.send(b"after")
        self.assertEqual(other.recv(100), b"after")
        sock.send(b"same session")
        self.assertEqual(sock.recv(100), b"same session")
        self.assertEqual(len(first.records()), 2, "the old session keeps its address")
        self.assertEqual(len(second.records()), 1, "the new session used the new address")
        sock.close()
        other.close()

    def test_a_session_s_lookup_reads_the_hosts_file_and_no_other_of_libc_s(self):
        # As TCP's relays (test_tcp): the listener set libc up once.
        start_peer(self.topo, "echo", 5353)
        wl.start_dnsmasq(self.topo, "%s target.test\n" % OUT_V4)
        proxy = self.topo.start_proxy(MODE="udp", PORT="5353", TARGET="target.test",
                                      wait_ports=False)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="port")
        sock = client(self.topo)
        sock.send(b"hello")
        self.assertEqual(sock.recv(100), b"hello")
        session = wl.relay_of(self.topo, proxy, 5353)
        self.assertEqual(wl.bytes_read(session), self.topo.hosts_file_size(),
                         "bytes the session read besides datagrams")
        sock.close()


class TestUdpOneWay(wl.TopologyCase):
    fresh_topology = True

    def send_from_clients(self, count, clients=3):
        socks = [client(self.topo) for _ in range(clients)]
        for i in range(count):
            socks[i % clients].send(b"line %d" % i)
            if i % 50 == 49:
                time.sleep(0.01)  # a syslog pace, not a flood the sink cannot keep up with
        for sock in socks:
            sock.close()

    def test_every_datagram_forwarded_from_one_socket(self):
        sink = start_peer(self.topo, "sink", 5353)
        proxy = self.topo.start_proxy(MODE="udp", PORT="5353", UDP_ANSWERS=0)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="port")
        self.send_from_clients(300)
        records = wl.wait_until(lambda: len(sink.records()) >= 300 and sink.records(),
                                what="300 datagrams at the sink")
        self.assertEqual(len(records), 300)
        self.assertEqual(len({port for _, port, _, _ in records}), 1, "one socket")
        self.assertEqual(self.topo.children(wl.listener_of(self.topo, proxy, 5353)), [])

    def test_answers_from_the_target_do_not_stop_it(self):
        sink = start_peer(self.topo, "answer", 5353)
        proxy = self.topo.start_proxy(MODE="udp", PORT="5353", UDP_ANSWERS=0)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="port")
        self.send_from_clients(100)
        wl.wait_until(lambda: len(sink.records()) >= 100, what="first 100")
        self.send_from_clients(100)
        wl.wait_until(lambda: len(sink.records()) >= 200, what="200 despite answers")
        self.assertIsNone(proxy.poll())


if __name__ == "__main__":
    unittest.main()
