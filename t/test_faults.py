"""Faults and drain: the proxy survives what goes wrong around it."""

import hashlib
import os
import signal
import socket
import struct
import threading
import time
import unittest

import wl

BODY = os.urandom(3 << 20)
# The limit tests count descriptors and processes exactly; a sanitizer runtime
# (make asan) needs its own, so there they would test the runtime, not us.
SANITIZED = "ASAN_OPTIONS" in os.environ or "UBSAN_OPTIONS" in os.environ
exact_limits = (wl.not_applicable("exact resource limits: not under a sanitizer") if SANITIZED
                else lambda test: test)
# 3 MiB at nginx's 1 MB/s: a transfer of about 3 s


def processes_of_uid(uid):
    """Processes (zombies too: they count against RLIMIT_NPROC) whose real uid is uid."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            status = wl.read("/proc/%s/status" % entry)
            fields = [line.split() for line in status.splitlines() if line.startswith("Uid:")]
            count += bool(fields) and fields[0][1] == str(uid)
    return count


def background_get(topo, path):
    """Starts a GET in a thread; returns (thread, result dict with body or error)."""
    result = {}

    def fetch():
        try:
            result["status"], result["body"] = wl.http_get(topo, path, timeout=20)
        except OSError as error:
            result["error"] = error

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    return thread, result


class TestDrain(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo, files={"big": BODY})

    def test_sigterm_lets_a_long_transfer_finish_and_refuses_new_clients(self):
        proxy = self.topo.start_proxy(PORT="80")
        thread, result = background_get(self.topo, "/slow/big")
        wl.wait_until(lambda: wl.established(self.topo, self.topo.outside, 80) == 1,
                      what="the transfer started")
        time.sleep(0.5)
        started = time.monotonic()
        proxy.send_signal(signal.SIGTERM)
        wl.wait_until(lambda: not self.topo.listening(self.topo.proxy, 80), timeout=1,
                      what="the port closed at once")
        with self.assertRaises(ConnectionRefusedError):
            self.topo.connect(80)
        thread.join(10)
        self.assertEqual(result.get("status"), "HTTP/1.1 200 OK", result)
        self.assertEqual(hashlib.sha256(result["body"]).digest(), hashlib.sha256(BODY).digest())
        self.assertEqual(proxy.wait(10), 0)
        self.assertLess(time.monotonic() - started, 5.5, "within the grace period")


class TestFaults(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        self.nginx = wl.start_nginx(self.topo, files={"big": BODY})

    def test_target_going_away_mid_transfer(self):
        proxy = self.topo.start_proxy(PORT="80")
        listener = wl.listener_of(self.topo, proxy, 80)
        thread, result = background_get(self.topo, "/slow/big")
        wl.wait_until(lambda: wl.established(self.topo, self.topo.outside, 80) == 1,
                      what="the transfer started")
        time.sleep(0.3)
        for pid in wl.run("ip", "netns", "pids", self.topo.outside).stdout.split():
            os.kill(int(pid), signal.SIGKILL)  # nginx and its workers, all at once
        thread.join(5)
        self.assertFalse(thread.is_alive(), "the client saw the end")
        self.assertLess(len(result.get("body", b"")), len(BODY))
        wl.wait_until(lambda: not self.topo.children(listener), what="the relay ended")
        self.nginx = wl.start_nginx(self.topo, files={"big": BODY})
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK", "serving on")

    def test_client_reset_mid_transfer(self):
        proxy = self.topo.start_proxy(PORT="80")
        listener = wl.listener_of(self.topo, proxy, 80)
        sock = self.topo.connect(80)
        sock.sendall(b"GET /slow/big HTTP/1.0\r\n\r\n")
        sock.recv(1000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # an RST, not a FIN
        wl.wait_until(lambda: not self.topo.children(listener), timeout=3,
                      what="the relay ended")
        wl.wait_until(lambda: wl.established(self.topo, self.topo.outside, 80) == 0, timeout=3,
                      what="the upstream connection closed")
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")
        self.assertIsNone(proxy.poll())

    def start_limited(self, limit, **env):
        proc = self.topo.start(self.topo.proxy, ["prlimit", limit, wl.WHITELIST],
                               env=self.topo.proxy_env(PORT="80", **env))
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 80), what="port 80")
        return proc

    @exact_limits
    def test_fork_failing_is_logged_once_and_recovers(self):
        # A uid of its own has main + listener; RLIMIT_NPROC 3 leaves room for one
        # relay, and the process count is the resource that comes back when it ends.
        uid = 60000 + os.getpid() % 5000
        wl.wait_until(lambda: processes_of_uid(uid) == 0, what="uid %d unused" % uid)
        proxy = self.start_limited("--nproc=3:3", RUN_AS=str(uid))
        first = self.topo.connect(80)
        wl.wait_until(lambda: wl.established(self.topo, self.topo.outside, 80) == 1,
                      what="the first relay")
        for _ in range(3):
            sock = self.topo.connect(80)
            self.assertEqual(sock.recv(10), b"", "closed, not left hanging")
            sock.close()
        first.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        self.assertIn(b"hello from", wl.recv_all(first), "the open one served on")
        first.close()
        log = wl.read(proxy.log)
        self.assertEqual(log.count("fork failed"), 1, log)
        for _ in range(2):  # room for one relay at a time: each waits for the last to go
            wl.wait_until(lambda: processes_of_uid(uid) == 2, what="the relay gone")
            self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")
        wl.wait_until(lambda: "fork works again" in wl.read(proxy.log), what="recovery logged")

    @exact_limits
    def test_descriptors_running_out_then_coming_back(self):
        # RUN_AS=0: this sandbox's root lacks CAP_SYS_RESOURCE, so only a process of
        # the same uid may have its limit changed. The listener holds 0, 1, 2, the
        # socket and the signalfd: with 5, nothing is left to accept with.
        proxy = self.topo.start_proxy(PORT="80", RUN_AS=0)
        listener = wl.listener_of(self.topo, proxy, 80)
        wl.run("prlimit", "--pid", str(listener), "--nofile=5:")
        waiting = self.topo.connect(80)
        waiting.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        wl.wait_until(lambda: "accept failed: Too many open files" in wl.read(proxy.log),
                      what="EMFILE logged")
        time.sleep(0.5)
        self.assertEqual(wl.read(proxy.log).count("accept failed"), 1, "logged once")
        self.assertIsNone(proxy.poll())
        wl.run("prlimit", "--pid", str(listener), "--nofile=1024:")
        self.assertIn(b"hello from", wl.recv_all(waiting), "the waiting client is served")
        waiting.close()
        self.assertIn("accept works again", wl.read(proxy.log))



def raw_server(topo, port, serve):
    """A TCP server in the outside namespace: serve(conn) per connection, in a thread."""
    sock = topo.socket_in(topo.outside)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((wl.OUT_V4, port))
    sock.listen(8)

    def loop():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return sock


def cpu_seconds(pid):
    """utime + stime of a process so far."""
    fields = wl.read("/proc/%d/stat" % pid).rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TestHostilePeers(wl.TopologyCase):
    """What a client or a target can do to a relay: it must neither stall nor spin."""

    fresh_topology = True

    def urgent_data_passes(self, verbose):
        received = {}

        def record(conn):
            received["data"] = wl.recv_all(conn)
            conn.sendall(b"got %d" % len(received["data"]))
            conn.close()

        server = raw_server(self.topo, 7000, record)
        self.topo.start_proxy(PORT="7000", VERBOSE=verbose)
        sock = self.topo.connect(7000)
        try:
            sock.sendall(b"abc")
            time.sleep(0.05)
            sock.send(b"!", socket.MSG_OOB)  # telnet's Ctrl-C, FTP's ABOR
            sock.sendall(b"def")
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(5)
            self.assertEqual(wl.recv_all(sock), b"got 6", "the stream whole, and its end")
        finally:
            sock.close()
            server.close()
        self.assertEqual(received["data"], b"abcdef", "as socat: the urgent byte out of band")

    def test_urgent_data_does_not_stall_the_stream(self):
        self.urgent_data_passes(0)

    def test_urgent_data_with_verbose_2(self):
        self.urgent_data_passes(2)

    def test_a_reset_while_data_waits_does_not_pin_a_core(self):
        def flood_then_reset(conn):
            conn.setblocking(False)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:  # until nothing more fits anywhere
                try:
                    conn.send(b"x" * 65536)
                except BlockingIOError:
                    time.sleep(0.02)
                except OSError:
                    break
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # a reset, with data the client never read

        server = raw_server(self.topo, 7000, flood_then_reset)
        proxy = self.topo.start_proxy(PORT="7000")
        sock = self.topo.connect(7000)  # reads nothing
        try:
            relay = wl.wait_until(lambda: self.topo.children(wl.listener_of(
                self.topo, proxy, 7000)), what="the relay")[0]
            time.sleep(2.5)  # the flood and the reset are over
            before = cpu_seconds(relay)
            time.sleep(1)
            self.assertLess(cpu_seconds(relay) - before, 0.1, "waiting costs nothing")
        finally:
            sock.close()
            server.close()


if __name__ == "__main__":
    unittest.main()
