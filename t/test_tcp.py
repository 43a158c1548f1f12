"""TCP end to end: the socat semantics of tcp-listen:P,fork,max-children=N."""

import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

import wl
from wl import OUT_V4, OUT2_V4, PX_IN_V4, PX_IN_V6


def half_close_server(topo, port, delay):
    """Outside: reads a request until EOF, waits `delay`, answers, closes."""
    sock = topo.socket_in(topo.outside)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((OUT_V4, port))
    sock.listen(16)

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            request = wl.recv_all(conn)
            time.sleep(delay)
            conn.sendall(b"got %d bytes" % len(request))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return sock


class TestTcp(wl.TopologyCase):
    hosts = {"target.test": PX_IN_V4}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.body = os.urandom(8 << 20)
        wl.start_nginx(cls.topo, files={"big": cls.body})
        cls.proxy = cls.topo.start_proxy(PORT="80 81 7000", VERBOSE=1, MAX_CONNECTIONS=50)

    def test_relays_http_for_v4_and_v6_clients(self):
        status, body = wl.http_get(self.topo)
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(body, b"hello from %s\n" % OUT_V4.encode())
        status, body = wl.http_get(self.topo, host=PX_IN_V6)
        self.assertEqual(body, b"hello from %s\n" % OUT_V4.encode())

    def test_8_mib_body_arrives_intact(self):
        status, body = wl.http_get(self.topo, "/big", timeout=20)
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(len(body), len(self.body))
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.body).digest())

    def test_half_close_answer_after_200ms_arrives(self):
        server = half_close_server(self.topo, 7000, 0.2)
        try:
            sock = self.topo.connect(7000)
            sock.sendall(b"x" * 1000)
            sock.shutdown(socket.SHUT_WR)
            started = time.monotonic()
            self.assertEqual(wl.recv_all(sock), b"got 1000 bytes")
            self.assertGreaterEqual(time.monotonic() - started, 0.15)
            sock.close()
        finally:
            server.close()

    def test_refused_target_gives_eof_quickly_and_proxy_serves_on(self):
        sock = self.topo.connect(81)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        started = time.monotonic()
        self.assertEqual(sock.recv(100), b"", "an orderly EOF, not data or a reset")
        self.assertLess(time.monotonic() - started, 1.0)
        sock.close()
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")
        self.assertIn("port 81: unable to connect to %s" % OUT_V4, wl.read(self.proxy.log))

    def test_verbose_logs_open_and_close(self):
        sock = self.topo.connect(80)
        local = sock.getsockname()
        sock.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        wl.recv_all(sock)
        sock.close()
        client = "%s:%d" % (local[0], local[1])
        log = wl.wait_until(lambda: "close %s " % client in wl.read(self.proxy.log) and
                            wl.read(self.proxy.log), what="close line")
        lines = [line for line in log.splitlines() if client + " " in line]
        self.assertEqual(len(lines), 3, lines)
        self.assertRegex(lines[0], r"^whitelist: accept %s -> 80 \(child \d+, \d+/50\)$" % client)
        self.assertEqual(lines[1], "whitelist: connect %s -> 80 -> %s:80" % (client, OUT_V4))
        self.assertRegex(lines[2], r"^whitelist: close %s -> 80 -> %s:80: 23 bytes up, "
                         r"\d+ bytes down, \d+\.\d{3} s$" % (client, OUT_V4))

    def test_verbose_2_dumps_the_data_as_socat_v(self):
        proxy = self.topo.start_proxy(PORT="7001", VERBOSE=2, wait_ports=False)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 7001), what="port 7001")
        server = half_close_server(self.topo, 7001, 0)
        try:
            sock = self.topo.connect(7001)
            sock.sendall(b"A\\B\r\n\x01end")
            sock.shutdown(socket.SHUT_WR)
            self.assertEqual(wl.recv_all(sock), b"got 9 bytes")
            sock.close()
        finally:
            server.close()
        log = wl.wait_until(lambda: "< " in wl.read(proxy.log) and wl.read(proxy.log),
                            what="the answer's dump")
        self.assertRegex(log, r"\n> \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}  length=9 from=0 to=8\n"
                         r"A\\\\B\\r\n\.end\n")
        self.assertRegex(log, r"\n< [0-9/: .]+  length=11 from=0 to=10\ngot 9 bytes\n")

    def test_relays_run_as_sched_batch_so_a_wake_up_does_not_preempt_the_waker(self):
        # Many small messages on a connection (h2load -m10): a relay that
        # preempts each sender takes a context switch per segment
        # (docs/performance.md: 0.55x the req/s of SCHED_BATCH relays).
        sock = self.topo.connect(80)
        try:
            relay = wl.relay_of(self.topo, self.proxy, 80)
            self.assertEqual(os.sched_getscheduler(relay), os.SCHED_BATCH)
        finally:
            sock.close()

    @wl.not_under_sanitizers("the sanitizers keep the heap and stack of their own")
    def test_an_idle_or_a_served_relay_keeps_the_heap_page_shared(self):
        # The heap holds libc's thread block: errno and the restartable
        # sequences area. A write to either (a read's EAGAIN while the client
        # is idle; the kernel's CPU number after scheduling) cost each relay a
        # private copy of that page (docs/performance.md).
        for exchange in (False, True):
            sock = self.topo.connect(80)
            try:
                if exchange:
                    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertIn(b"hello from", sock.recv(4096))
                relay = wl.relay_of(self.topo, self.proxy, 80)
                time.sleep(0.2)
                self.assertEqual(wl.private_dirty_kb(relay, "[heap]"), 0,
                                 "served" if exchange else "idle")
            finally:
                sock.close()

    @wl.not_under_sanitizers("the sanitizers' relays are forked as usual")
    def test_a_relay_s_stack_shared_memory_and_program_lie_in_one_2_mib_region(self):
        # One page-table page maps a 2 MB region: the relay's stack and the
        # shared memory are below the program, which starts at 0x440000.
        sock = self.topo.connect(80)
        try:
            relay = wl.relay_of(self.topo, self.proxy, 80)
            regions = wl.mapping_regions(relay, 2 << 20)
            self.assertEqual(len(regions), 1, "2 MB regions: %s" % sorted(map(hex, regions)))
        finally:
            sock.close()

    def test_thousands_of_connections_leave_no_fd_or_zombie(self):
        listener = wl.listener_of(self.topo, self.proxy, 80)
        wl.http_get(self.topo)
        fds_before = wl.open_fds(listener)
        for _ in range(2000):
            sock = self.topo.connect(80)
            sock.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
            wl.recv_all(sock)
            sock.close()
        wl.wait_until(lambda: not self.topo.children(listener), what="children reaped")
        self.assertEqual(wl.open_fds(listener), fds_before)
        self.assertEqual(wl.zombies_of(self.proxy.pid, self.topo), 0)
        self.assertEqual(wl.zombies_of(listener, self.topo), 0)


class TestLimit(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)
        self.proxy = self.topo.start_proxy(PORT="80", MAX_CONNECTIONS=3)

    def test_waiting_clients_stay_in_backlog_and_are_served_later(self):
        clients = [self.topo.connect(80) for _ in range(6)]
        wl.wait_until(lambda: wl.established(self.topo, self.topo.outside, 80) == 3,
                      what="3 upstream connections")
        time.sleep(0.3)
        self.assertEqual(wl.established(self.topo, self.topo.outside, 80), 3,
                         "the limit holds the upstream count")
        for sock in clients[3:]:
            sock.settimeout(0.05)
            with self.assertRaises(socket.timeout, msg="waiting, not closed"):
                sock.recv(1)
            sock.settimeout(5)
        for sock in clients:
            sock.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        for sock in clients:
            data = wl.recv_all(sock)
            self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data[:100])
            sock.close()


class TestDnsChange(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)
        wl.start_nginx(self.topo, addr=OUT2_V4, addr6=None)
        self.dns = wl.start_dnsmasq(self.topo, "%s target.test\n" % OUT_V4)

    def test_a_relay_s_lookup_reads_the_hosts_file_and_no_other_of_libc_s(self):
        # The listener looked up "localhost" once: its relays inherit libc's
        # set-up (nsswitch.conf, host.conf, resolv.conf read, no nscd) and
        # did not do it again each (target_warm_resolver).
        proxy = self.topo.start_proxy(TARGET="target.test", PORT="80")
        sock = self.topo.connect(80)
        try:
            relay = wl.relay_of(self.topo, proxy, 80)
            wl.wait_until(lambda: wl.established(self.topo, self.topo.outside, 80) > 0,
                          what="the relay's upstream connection")
            self.assertEqual(wl.bytes_read(relay), self.topo.hosts_file_size(),
                             "bytes the relay read before its client spoke")
        finally:
            sock.close()

    def test_next_connection_follows_a_dns_change(self):
        self.topo.start_proxy(TARGET="target.test", PORT="80")
        self.assertEqual(wl.http_get(self.topo)[1], b"hello from %s\n" % OUT_V4.encode())
        with open(self.dns.hosts, "w") as f:
            f.write("%s target.test\n" % OUT2_V4)
        self.dns.send_signal(signal.SIGHUP)
        wl.wait_until(lambda: wl.http_get(self.topo)[1] == b"hello from %s\n" %
                      OUT2_V4.encode(), what="the new address used")

    def test_unresolvable_target_closes_client_and_serves_on(self):
        proxy = self.topo.start_proxy(TARGET="missing.test", PORT="80")
        sock = self.topo.connect(80)
        self.assertEqual(sock.recv(10), b"")
        sock.close()
        self.assertIn("unable to resolve TARGET missing.test", wl.read(proxy.log))
        self.assertIsNone(proxy.poll())


class TestLifetime(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)

    def test_sigterm_refuses_new_clients_and_lets_open_ones_finish(self):
        proxy = self.topo.start_proxy(PORT="80 443")
        sock = self.topo.connect(80)
        wl.wait_until(lambda: wl.established(self.topo, self.topo.outside, 80) == 1,
                      what="the relay")
        started = time.monotonic()
        proxy.send_signal(signal.SIGTERM)
        wl.wait_until(lambda: not self.topo.listening(self.topo.proxy, 80), timeout=1,
                      what="port 80 closed at once")
        with self.assertRaises(ConnectionRefusedError):
            self.topo.connect(80)
        sock.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        self.assertIn(b"hello from", wl.recv_all(sock))
        sock.close()
        self.assertEqual(proxy.wait(10), 0)
        self.assertLess(time.monotonic() - started, 3, "ends once the last one is done")

    def test_sigterm_ends_idle_connections_after_the_grace_period(self):
        proxy = self.topo.start_proxy(PORT="80")
        sock = self.topo.connect(80)
        wl.wait_until(lambda: wl.established(self.topo, self.topo.outside, 80) == 1,
                      what="the relay")
        started = time.monotonic()
        proxy.send_signal(signal.SIGTERM)
        self.assertEqual(proxy.wait(10), 0)
        elapsed = time.monotonic() - started
        self.assertGreater(elapsed, 4, "the grace period was given")
        self.assertLess(elapsed, 8, "within Docker's 10 s")
        sock.close()

    def test_a_killed_listener_ends_the_program_non_zero(self):
        proxy = self.topo.start_proxy(PORT="80 443")
        listener = wl.listener_of(self.topo, proxy, 443)
        os.kill(listener, signal.SIGKILL)
        self.assertEqual(proxy.wait(10), 1)
        self.assertIn("the listener of port 443 ended (signal 9)", wl.read(proxy.log))
        self.assertFalse(self.topo.listening(self.topo.proxy, 80))

    def test_signals_pid_1_would_ignore_change_nothing(self):
        """Not PID 1 (docker run --init, make run): HUP, USR1, USR2, ALRM, QUIT as PID 1."""
        proxy = self.topo.start_proxy(PORT="80")
        for signo in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM,
                      signal.SIGQUIT):
            os.kill(proxy.pid, signo)
            os.kill(wl.listener_of(self.topo, proxy, 80), signo)
        time.sleep(0.3)
        self.assertIsNone(proxy.poll(), wl.read(proxy.log))
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")
        self.assertEqual(self.topo.stop(proxy), 0)

    @wl.not_under_sanitizers("an address-space limit (the shadow needs terabytes)")
    def test_a_huge_limit_costs_nothing_up_front(self):
        """The slot table grows with the children: no 8 GB table under a 1 GB address space."""
        proxy = self.topo.start_proxy(PORT="80", MAX_CONNECTIONS=2000000000,
                                      wrapper=("prlimit", "--as=1073741824"))
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")
        listener = wl.listener_of(self.topo, proxy, 80)
        rss_kb = int(re.search(r"VmRSS:\s+(\d+)", wl.read("/proc/%d/status" % listener)).group(1))
        self.assertLess(rss_kb, 8 * 1024)

    def test_orphaned_relays_are_reaped_not_left_as_zombies(self):
        proxy = self.topo.start_proxy(PORT="80 443")
        sock = self.topo.connect(80)
        wl.wait_until(lambda: wl.established(self.topo, self.topo.outside, 80) == 1,
                      what="the relay")
        listener = wl.listener_of(self.topo, proxy, 80)
        relay = self.topo.children(listener)[0]
        os.kill(listener, signal.SIGKILL)
        sock.close()
        wl.wait_until(lambda: not os.path.exists("/proc/%d" % relay) or
                      proxy.poll() is not None, what="the orphan reaped")
        self.assertFalse(os.path.exists("/proc/%d" % relay), "reaped, not a zombie")
        proxy.wait(10)


class TestConfigErrors(unittest.TestCase):
    """Bad values stop the binary with status 2 and one line naming the variable."""

    CASES = [
        ({"PORT": "80"}, "TARGET: not set"),
        ({"TARGET": "x", "PORT": "http"}, 'PORT: "http" is not a port number'),
        ({"TARGET": "x", "PORT": "0"}, 'PORT: "0" is not a port number'),
        ({"TARGET": "x", "PORT": "65536"}, 'PORT: "65536" is not a port number'),
        ({"TARGET": "x", "MODE": "sctp"}, 'MODE: "sctp" is not tcp or udp'),
        ({"TARGET": "x", "MAX_CONNECTIONS": "-1"}, 'MAX_CONNECTIONS: "-1" is not a number'),
        ({"TARGET": "x", "MAX_CONNECTIONS": "ten"}, 'MAX_CONNECTIONS: "ten" is not a number'),
        ({"TARGET": "x", "PRE_RESOLVE": "yes"}, 'PRE_RESOLVE: "yes" is not 0 or 1'),
        ({"TARGET": "x", "VERBOSE": "3"}, 'VERBOSE: "3" is not a number from 0 to 2'),
        ({"TARGET": "x", "NAMESERVERS": "8.8.8.8 dns.google"},
         'NAMESERVERS: "dns.google" is not an IP address'),
        ({"TARGET": "example.com:443"}, 'TARGET: "example.com:443": a port belongs in PORT'),
        ({"TARGET": "a..b"}, 'TARGET: "a..b" has an empty label'),
        ({"TARGET": "a" * 64 + ".example"}, "has a label longer than 63 characters"),
        ({"TARGET": "b\u00fccher.de"}, "is not ASCII"),
        ({"TARGET": "010.0.0.1"}, 'TARGET: "010.0.0.1" is not a canonical IPv4 address (it '
         "would be read as 8.0.0.1)"),
        ({"TARGET": "1.2.3"}, "(it would be read as 1.2.0.3)"),
        ({"TARGET": "0x7f.1"}, "(it would be read as 127.0.0.1)"),
        # With PRE_RESOLVE=1 too: the value is refused before anything is asked.
        ({"TARGET": "0x7f.1", "PRE_RESOLVE": "1", "NAMESERVERS": "198.18.2.99"},
         "(it would be read as 127.0.0.1)"),
        ({"TARGET": "example.com:443", "PRE_RESOLVE": "1"}, "a port belongs in PORT"),
        ({"TARGET": "x", "MAX_CONNECTIONS": "+5"}, 'MAX_CONNECTIONS: "+5" is not a number'),
        # Read as socat did: MODE in any case, blanks around numbers; the next error shows it.
        ({"TARGET": "x", "MODE": "TCP", "MAX_CONNECTIONS": " 50 ", "PORT": "http"},
         'PORT: "http" is not a port number'),
    ]

    def test_each_bad_value_exits_2_naming_it(self):
        for env, message in self.CASES:
            with self.subTest(env=env):
                result = subprocess.run([wl.WHITELIST], env=dict(env, PATH="/usr/bin"),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, timeout=5)
                self.assertEqual(result.returncode, 2)
                lines = result.stderr.splitlines()
                self.assertEqual(len(lines), 1, result.stderr)
                self.assertIn(message, lines[0])


if __name__ == "__main__":
    unittest.main()
