"""METRICS_PORT end to end: the Prometheus page, and counters that stay exact
when many relays update them at once."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import wl
from wl import OUT_V4, PX_IN_V4, PX_IN_V6

METRICS = 9100
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_peer.py")
REQUEST = b"GET /hello HTTP/1.0\r\nHost: x\r\n\r\n"


def sample(topo, name, **labels):
    return wl.metric(wl.metrics(topo, METRICS), name, **labels)


def process_named(topo, proxy, comm):
    """The proxy's child of that name (it names itself once it runs: wait for it)."""
    def find():
        for pid in topo.children(proxy.pid):
            if wl.read("/proc/%d/comm" % pid).strip() == comm:
                return pid
        return None
    return wl.wait_until(find, what="a child %s of the proxy" % comm)


class TestMetricsTcp(wl.TopologyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        wl.start_nginx(cls.topo)
        cls.proxy = cls.topo.start_proxy(PORT="80 81", METRICS_PORT=METRICS, MAX_CONNECTIONS=50)
        wl.wait_until(lambda: cls.topo.listening(cls.topo.proxy, METRICS), what="metrics port")

    def test_page_format_and_content_type(self):
        status, headers, body = wl.scrape(self.topo, METRICS)
        self.assertEqual(status, "HTTP/1.0 200 OK")
        self.assertEqual(headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        self.assertEqual(int(headers["content-length"]), len(body.encode()))
        samples = wl.parse_metrics(body)
        for port in (80, 81):
            for name in ("whitelist_connections_total", "whitelist_connections_active",
                         "whitelist_upstream_errors_total"):
                wl.metric(samples, name, port=port)
            wl.metric(samples, "whitelist_connections_refused_total", port=port,
                      reason="allow_from")
            wl.metric(samples, "whitelist_bytes_total", port=port, direction="up")
            wl.metric(samples, "whitelist_bytes_total", port=port, direction="down")
        self.assertEqual(wl.metric(samples, "whitelist_target_info", target=OUT_V4,
                                   address=OUT_V4), 1)
        self.assertIn("# TYPE whitelist_bytes_total counter\n", body)
        self.assertIn("# TYPE whitelist_connections_active gauge\n", body)

    def test_other_paths_get_404_and_v6_scrapers_are_served(self):
        self.assertEqual(wl.scrape(self.topo, METRICS, path="/")[0], "HTTP/1.0 404 Not Found")
        self.assertEqual(wl.scrape(self.topo, METRICS, path="/metricsx")[0],
                         "HTTP/1.0 404 Not Found")
        self.assertEqual(wl.scrape(self.topo, METRICS, host=PX_IN_V6)[0], "HTTP/1.0 200 OK")

    def test_500_connections_counted_exactly(self):
        before = wl.metrics(self.topo, METRICS)
        sent, received, lock = [0], [0], threading.Lock()

        def client(count):
            for _ in range(count):
                sock = self.topo.connect(80)
                sock.sendall(REQUEST)
                data = wl.recv_all(sock)
                sock.close()
                self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data[:50])
                with lock:
                    sent[0] += len(REQUEST)
                    received[0] += len(data)

        threads = [threading.Thread(target=client, args=(50,)) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        wl.wait_until(lambda: sample(self.topo, "whitelist_connections_active", port=80) == 0,
                      what="every relay reaped")
        after = wl.metrics(self.topo, METRICS)

        def delta(name, **labels):
            return wl.metric(after, name, **labels) - wl.metric(before, name, **labels)

        self.assertEqual(delta("whitelist_connections_total", port=80), 500)
        self.assertEqual(delta("whitelist_bytes_total", port=80, direction="up"), sent[0])
        self.assertEqual(delta("whitelist_bytes_total", port=80, direction="down"), received[0])
        self.assertEqual(delta("whitelist_upstream_errors_total", port=80), 0)
        self.assertEqual(delta("whitelist_connections_total", port=81), 0)

    def test_active_counts_open_connections(self):
        socks = [self.topo.connect(80) for _ in range(3)]
        try:
            wl.wait_until(lambda: sample(self.topo, "whitelist_connections_active",
                                         port=80) == 3, what="3 active")
        finally:
            for sock in socks:
                sock.close()
        wl.wait_until(lambda: sample(self.topo, "whitelist_connections_active", port=80) == 0,
                      what="0 active")

    def test_a_killed_relay_is_not_active_any_more(self):
        sock = self.topo.connect(80)
        wl.wait_until(lambda: sample(self.topo, "whitelist_connections_active", port=80) == 1,
                      what="1 active")
        listener = process_named(self.topo, self.proxy, "whitelist:80")
        for relay in self.topo.children(listener):
            os.kill(relay, signal.SIGKILL)
        wl.wait_until(lambda: sample(self.topo, "whitelist_connections_active", port=80) == 0,
                      what="the crashed relay's connection no longer active")
        sock.close()

    def test_failed_upstream_connects_are_counted(self):
        before = sample(self.topo, "whitelist_upstream_errors_total", port=81)
        for _ in range(5):
            sock = self.topo.connect(81)
            self.assertEqual(sock.recv(10), b"")
            sock.close()
        wl.wait_until(lambda: sample(self.topo, "whitelist_upstream_errors_total",
                                     port=81) == before + 5, what="5 upstream errors")
        self.assertEqual(sample(self.topo, "whitelist_upstream_errors_total", port=80), 0)

    def test_idle_connections_never_delay_a_scrape(self):
        """Clients that connect and say nothing, 10 of them, then more than the server
        keeps at once (the oldest make room): a scrape is answered at once."""
        for count in (10, 100):
            idle = [self.topo.connect(METRICS) for _ in range(count)]
            try:
                started = time.monotonic()
                self.assertEqual(wl.scrape(self.topo, METRICS, timeout=5)[0], "HTTP/1.0 200 OK")
                self.assertLess(time.monotonic() - started, 0.5, "%d idle clients" % count)
            finally:
                for sock in idle:
                    sock.close()

    def test_a_silent_scraper_does_not_stall_the_next(self):
        silent = self.topo.connect(METRICS)
        try:
            started = time.monotonic()
            self.assertEqual(wl.scrape(self.topo, METRICS, timeout=5)[0], "HTTP/1.0 200 OK")
            self.assertLess(time.monotonic() - started, 3)
            silent.settimeout(3)
            self.assertEqual(silent.recv(10), b"", "closed after the read timeout")
        finally:
            silent.close()
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")


class TestMetricsUdp(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        log = os.path.join(self.topo.tmp, "echo.log")
        self.topo.start(self.topo.outside, [sys.executable, PEER, "echo", OUT_V4, "5353", log])
        wl.wait_until(lambda: self.topo.listening(self.topo.outside, 5353, "udp"), what="peer")

    def test_sessions_and_datagram_bytes(self):
        self.topo.start_proxy(MODE="udp", PORT="5353", UDP_TIMEOUT=1, METRICS_PORT=METRICS)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, METRICS), what="metrics")
        clients = []
        for index in range(3):
            sock = self.topo.socket_in(self.topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(3)
            sock.connect((PX_IN_V4, 5353))
            clients.append(sock)
            for _ in range(10):
                sock.send(b"%d" % index * 100)
                self.assertEqual(len(sock.recv(1000)), 100)
        self.assertEqual(sample(self.topo, "whitelist_connections_total", port=5353), 3)
        self.assertEqual(sample(self.topo, "whitelist_connections_active", port=5353), 3)
        self.assertEqual(sample(self.topo, "whitelist_bytes_total", port=5353,
                                direction="up"), 3000)
        self.assertEqual(sample(self.topo, "whitelist_bytes_total", port=5353,
                                direction="down"), 3000)
        wl.wait_until(lambda: sample(self.topo, "whitelist_connections_active",
                                     port=5353) == 0, what="sessions ended by UDP_TIMEOUT")
        for sock in clients:
            sock.close()


class TestMetricsLifetime(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)

    def test_a_killed_metrics_server_ends_the_program_non_zero(self):
        proxy = self.topo.start_proxy(PORT="80", METRICS_PORT=METRICS)
        os.kill(process_named(self.topo, proxy, "whitelist-stats"), signal.SIGKILL)
        self.assertEqual(proxy.wait(10), 1)
        self.assertIn("the metrics server of port %d ended (signal 9)" % METRICS,
                      wl.read(proxy.log))

    def test_sigterm_ends_it_with_status_0(self):
        proxy = self.topo.start_proxy(PORT="80", METRICS_PORT=METRICS)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, METRICS), what="metrics")
        proxy.send_signal(signal.SIGTERM)
        self.assertEqual(proxy.wait(10), 0)
        self.assertFalse(self.topo.listening(self.topo.proxy, METRICS))

    def test_the_healthcheck_does_not_count_it_as_a_port(self):
        proxy = self.topo.start_proxy(PORT="80", METRICS_PORT=METRICS)
        result = subprocess.run(["ip", "netns", "exec", self.topo.proxy, wl.HEALTHCHECK],
                                env=proxy.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("listens on tcp 80 (0 connections)", result.stdout)


def cpu_seconds(pid):
    """User and system time of a process so far (/proc/PID/stat, clock ticks)."""
    fields = wl.read("/proc/%d/stat" % pid).rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TestMetricsFull(wl.TopologyCase):
    """Every client slot answering (64 scrapers that do not read a 100 KiB page)
    and one more client waiting in the backlog."""

    fresh_topology = True
    SLOTS = 64

    def scraper(self):
        sock = self.topo.socket_in(self.topo.inside)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # the answer stalls
        sock.settimeout(5)
        sock.connect((PX_IN_V4, METRICS))
        sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        return sock

    def test_a_waiting_client_makes_no_spin_and_is_served_once_the_slowest_times_out(self):
        ports = " ".join(str(20000 + i) for i in range(40))
        names = " ".join("n%d.test" % i for i in range(32))  # routed: a page per entry
        proxy = self.topo.start_proxy(PORT=ports, TARGET=names, METRICS_PORT=METRICS,
                                      wait_ports=False)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, METRICS), what="metrics")
        stats = process_named(self.topo, proxy, "whitelist-stats")
        busy = [self.scraper() for _ in range(self.SLOTS)]
        try:
            waiting = self.topo.connect(METRICS, timeout=10)
            time.sleep(0.3)  # the 64 answers rendered, the 65th in the backlog
            started, cpu = time.monotonic(), cpu_seconds(stats)
            time.sleep(2)
            used = cpu_seconds(stats) - cpu
            self.assertLess(used / (time.monotonic() - started), 0.1,
                            "whitelist-stats used %.2f s of CPU in 2 s" % used)
            # The slowest are closed at their write deadline (5 s): the waiting one is served.
            waiting.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            self.assertTrue(wl.recv_all(waiting).startswith(b"HTTP/1.0 200 OK"))
            waiting.close()
        finally:
            for sock in busy:
                sock.close()


class TestMetricsConfig(unittest.TestCase):
    CASES = [
        ({"METRICS_PORT": "http"}, 'METRICS_PORT: "http" is not a port number'),
        ({"METRICS_PORT": "0"}, 'METRICS_PORT: "0" is not a port number'),
        ({"PORT": "80 9100", "METRICS_PORT": "9100"}, "METRICS_PORT: 9100 is also in PORT"),
    ]

    def test_bad_values_exit_2_naming_them(self):
        for env, message in self.CASES:
            with self.subTest(env=env):
                result = subprocess.run([wl.WHITELIST], env=dict(env, TARGET="x", PATH="/usr/bin"),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, timeout=5)
                self.assertEqual(result.returncode, 2)
                lines = result.stderr.splitlines()
                self.assertEqual(len(lines), 1, result.stderr)
                self.assertTrue(lines[0].startswith("whitelist: " + message), lines[0])


if __name__ == "__main__":
    unittest.main()
