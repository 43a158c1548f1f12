"""UDP when things go wrong: a TARGET that cannot be reached or resolved, a
flood at MAX_CONNECTIONS, a listener that dies under its sessions. Each
costs bounded work (a fork and a connection attempt a second, not one per
datagram), bounded memory, and is counted."""

import os
import re
import signal
import socket
import time

import wl
from wl import OUT_V4, PX_IN_V4
from test_udp import start_peer

NOWHERE_V4 = "198.18.9.9"  # no route from the proxy's namespace: connect() fails at once
SECONDS = 2.0


def send_for(topo, seconds, rate=100, payload=b"ping", port=5353):
    """Datagrams from one client for `seconds` at `rate` a second; how many were sent."""
    sock = topo.socket_in(topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
    sent, deadline = 0, time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            sock.sendto(payload, (PX_IN_V4, port))
            sent += 1
            time.sleep(1.0 / rate)
    finally:
        sock.close()
    return sent


def samples_of(topo):
    return wl.metrics(topo, 9100)


class TestUnreachableTarget(wl.TopologyCase):
    fresh_topology = True

    def start_udp(self, **variables):
        proxy = self.topo.start_proxy(MODE="udp", PORT="5353", METRICS_PORT=9100,
                                      wait_ports=False, **variables)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="udp")
        return proxy

    def assert_bounded(self, proxy, sent, failure):
        samples = samples_of(self.topo)
        sessions = wl.metric(samples, "whitelist_connections_total", port=5353)
        errors = wl.metric(samples, "whitelist_upstream_errors_total", port=5353)
        dropped = wl.metric(samples, "whitelist_datagrams_dropped_total", port=5353,
                            reason="upstream_down")
        self.assertLessEqual(sessions, SECONDS + 2, "about a fork a second, not one per datagram")
        self.assertLessEqual(errors, SECONDS + 2)
        self.assertGreaterEqual(dropped, sent - 2 * (SECONDS + 2), "the rest dropped and counted")
        lines = len(re.findall(failure, wl.read(proxy.log)))
        self.assertGreaterEqual(lines, 1)
        self.assertLessEqual(lines, SECONDS + 2, "logged about once a second")

    def test_no_route(self):
        proxy = self.start_udp(TARGET=NOWHERE_V4)
        sent = send_for(self.topo, SECONDS)
        self.assert_bounded(proxy, sent, r"unable to connect to %s" % re.escape(NOWHERE_V4))

    def test_name_that_does_not_resolve(self):
        wl.start_dnsmasq(self.topo, "%s other.test\n" % OUT_V4)
        proxy = self.start_udp(TARGET="nowhere.test")
        sent = send_for(self.topo, SECONDS)
        self.assert_bounded(proxy, sent, r"unable to resolve TARGET nowhere\.test")

    def test_one_way_mode_logs_about_once_a_second(self):
        proxy = self.start_udp(TARGET=NOWHERE_V4, UDP_ANSWERS=0)
        sent = send_for(self.topo, SECONDS)
        lines = len(re.findall("unable to connect", wl.read(proxy.log)))
        self.assertGreaterEqual(lines, 1)
        self.assertLessEqual(lines, SECONDS + 2)
        samples = samples_of(self.topo)
        self.assertGreaterEqual(wl.metric(samples, "whitelist_datagrams_dropped_total",
                                          port=5353, reason="upstream_down"), sent - 10)

    def test_a_target_back_after_an_outage_is_used_again(self):
        """The pause after a failure is a pause: the next datagram a second later gets through."""
        wl.start_dnsmasq(self.topo, "%s other.test\n" % OUT_V4)
        echo = start_peer(self.topo, "echo", 5353)
        proxy = self.start_udp(TARGET="late.test")
        send_for(self.topo, 0.3)
        with open(self.topo.procs[0].hosts, "a") as f:
            f.write("%s late.test\n" % OUT_V4)
        self.topo.procs[0].send_signal(signal.SIGHUP)
        time.sleep(1.2)
        sock = self.topo.socket_in(self.topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(3)
        try:
            sock.sendto(b"hello", (PX_IN_V4, 5353))
            self.assertEqual(sock.recv(100), b"hello")
        finally:
            sock.close()
        self.assertTrue(echo.records())
        self.assertIsNone(proxy.poll())


class TestFloodAtTheLimit(wl.TopologyCase):
    @classmethod
    def start_peers(cls, topo):
        start_peer(topo, "echo", 5353)

    @wl.not_under_sanitizers("a bound on resident memory (the sanitizers keep freed memory)")
    def test_empty_datagrams_cost_bounded_memory(self):
        proxy = self.topo.start_proxy(MODE="udp", PORT="5353", METRICS_PORT=9100,
                                      MAX_CONNECTIONS=1, UDP_TIMEOUT=60, wait_ports=False)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="udp")
        holder = self.topo.socket_in(self.topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
        holder.sendto(b"mine", (PX_IN_V4, 5353))  # takes the only session
        listener = wl.listener_of(self.topo, proxy, 5353)
        wl.wait_until(lambda: self.topo.children(listener), what="the session")
        flood = self.topo.socket_in(self.topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(300000):  # a new client at the limit: every datagram must wait
            try:
                flood.sendto(b"", (PX_IN_V4, 5353))
            except OSError:
                pass
        time.sleep(0.5)
        rss_kb = int(re.search(r"VmRSS:\s+(\d+)", wl.read("/proc/%d/status" % listener)).group(1))
        self.assertLess(rss_kb, 16 * 1024, "the waiting queue is bounded by memory")
        wl.wait_until(lambda: wl.metric(samples_of(self.topo), "whitelist_datagrams_dropped_total",
                                        port=5353, reason="queue_full") > 0,
                      what="what did not fit counted (once a second while the queue is full)")
        holder.close()
        flood.close()


class TestListenerDeath(wl.TopologyCase):
    fresh_topology = True

    def test_sessions_do_not_spray_when_their_listener_dies(self):
        sink = start_peer(self.topo, "sink", 5353)
        proxy = self.topo.start_proxy(MODE="udp", PORT="5353", wait_ports=False)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp"), what="udp")
        sock = self.topo.socket_in(self.topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
        sock.sendto(b"one", (PX_IN_V4, 5353))
        listener = wl.listener_of(self.topo, proxy, 5353)
        wl.wait_until(lambda: self.topo.children(listener), what="the session")
        wl.wait_until(lambda: len(sink.records()) == 1, what="the datagram")
        os.kill(listener, signal.SIGKILL)
        time.sleep(1.5)
        self.assertEqual(len(sink.records()), 1, "nothing but the client's datagram")
        self.assertEqual(proxy.wait(10), 1)
        sock.close()
