#!/usr/bin/env python3
"""make soak: 100,000 TCP connections and 10,000 UDP sessions through one proxy.

Checks, and prints, that the main process's memory stays flat, that no file
descriptor or zombie accumulates, and that every byte is accounted for: what
the clients sent and received equals what the proxy's VERBOSE=1 close lines
report, connection by connection summed. Not part of `make check` (minutes).
Sizes can be lowered for a quick look: SOAK_TCP=1000 SOAK_UDP=100 make soak.
"""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wl  # noqa: E402
from wl import PX_IN_V4  # noqa: E402

TCP_CONNECTIONS = int(os.environ.get("SOAK_TCP", "100000"))
UDP_SESSIONS = int(os.environ.get("SOAK_UDP", "10000"))
THREADS = 8
REQUEST = b"GET /hello HTTP/1.0\r\n\r\n"
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_peer.py")


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.count = self.up = self.down = self.errors = 0

    def add(self, up, down, error=False):
        with self.lock:
            self.count += 1
            self.up += up
            self.down += down
            self.errors += error


def tcp_worker(topo, count, totals):
    with wl.Netns(topo.inside):
        for _ in range(count):
            try:
                sock = socket.create_connection((PX_IN_V4, 80), timeout=10)
                sock.sendall(REQUEST)
                data = wl.recv_all(sock)
                sock.close()
                totals.add(len(REQUEST), len(data), not data.startswith(b"HTTP/1.1 200"))
            except OSError:
                totals.add(0, 0, True)


def udp_worker(topo, count, totals, first):
    with wl.Netns(topo.inside):
        for index in range(first, first + count):
            payload = b"session %d" % index
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.settimeout(20)
                sock.connect((PX_IN_V4, 5353))
                sock.send(payload)
                answer = sock.recv(100)
                sock.close()
                totals.add(len(payload), len(answer), answer != payload)
            except OSError:
                totals.add(len(payload), 0, True)


def run_threads(worker, total, topo, totals):
    """Splits `total` over THREADS workers; UDP workers get distinct session numbers."""
    share, extra = divmod(total, THREADS)
    threads, first = [], 0
    for i in range(THREADS):
        count = share + (1 if i < extra else 0)
        args = (topo, count, totals) + ((first,) if worker is udp_worker else ())
        threads.append(threading.Thread(target=worker, args=args))
        first += count
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def rss_kb(pid):
    match = re.search(r"^VmRSS:\s+(\d+)", wl.read("/proc/%d/status" % pid), re.M)
    return int(match.group(1)) if match else 0


def tree_state(topo, proxy):
    pids = [proxy.pid] + topo.children(proxy.pid)
    return {"rss": {pid: rss_kb(pid) for pid in pids},
            "fds": {pid: wl.open_fds(pid) for pid in pids},
            "zombies": wl.zombies_of(proxy.pid, topo) +
            sum(wl.zombies_of(pid, topo) for pid in pids[1:])}


def logged_bytes(log, pattern):
    up = down = count = 0
    for match in re.finditer(pattern, wl.read(log)):
        count += 1
        up += int(match.group(1))
        down += int(match.group(2))
    return count, up, down


def check(results, ok, what):
    print("  %s %s" % ("ok  " if ok else "FAIL", what))
    results.append(ok)


def soak_tcp(topo, failures):
    proxy = topo.start_proxy(PORT="80", VERBOSE=1, MAX_CONNECTIONS=200)
    before = tree_state(topo, proxy)
    totals = Totals()
    started = time.monotonic()
    batch = max(TCP_CONNECTIONS // 10, 1)
    samples = []
    for done in range(0, TCP_CONNECTIONS, batch):
        run_threads(tcp_worker, min(batch, TCP_CONNECTIONS - done), topo, totals)
        samples.append(rss_kb(proxy.pid))
    elapsed = time.monotonic() - started
    listener = topo.children(proxy.pid)[0]
    wl.wait_until(lambda: not topo.children(listener), timeout=10, what="relays reaped")
    after = tree_state(topo, proxy)
    count, up, down = logged_bytes(proxy.log, r"close \S+ -> 80 -> \S+: (\d+) bytes up, "
                                   r"(\d+) bytes down")
    print("tcp: %d connections in %.1f s (%.0f/s), %d errors" %
          (totals.count, elapsed, totals.count / elapsed, totals.errors))
    print("  main RSS kB per tenth: %s" % " ".join(map(str, samples)))
    check(failures, totals.errors == 0, "every connection answered")
    check(failures, max(samples) - min(samples) <= 64, "main process memory flat (<= 64 kB)")
    check(failures, after["fds"] == before["fds"], "no fd growth %s -> %s" %
          (before["fds"], after["fds"]))
    check(failures, after["zombies"] == 0, "no zombies")
    check(failures, (count, up, down) == (TCP_CONNECTIONS, totals.up, totals.down),
          "bytes accounted: log %d conns %d up %d down, clients %d up %d down" %
          (count, up, down, totals.up, totals.down))
    topo.stop(proxy)


def soak_udp(topo, failures):
    log = os.path.join(topo.tmp, "peer.log")
    topo.start(topo.outside, [sys.executable, PEER, "echo", wl.OUT_V4, "5353", log])
    wl.wait_until(lambda: topo.listening(topo.outside, 5353, "udp"), what="udp echo")
    proxy = topo.start_proxy(MODE="udp", PORT="5353", VERBOSE=1, UDP_TIMEOUT=1,
                             MAX_CONNECTIONS=500, wait_ports=False)
    wl.wait_until(lambda: topo.listening(topo.proxy, 5353, "udp"), what="udp port")
    before = tree_state(topo, proxy)
    totals = Totals()
    started = time.monotonic()
    listener = topo.children(proxy.pid)[0]
    middle = None
    for half in (UDP_SESSIONS // 2, UDP_SESSIONS - UDP_SESSIONS // 2):
        run_threads(udp_worker, half, topo, totals)
        wl.wait_until(lambda: not topo.children(listener), timeout=30, what="sessions ended")
        middle = middle or tree_state(topo, proxy)  # buffers are touched by the first half
    elapsed = time.monotonic() - started
    after = tree_state(topo, proxy)
    # A client socket may reuse an ended client's port: then it is that client again,
    # so sessions can be fewer than clients, and the bytes must still all be there.
    count, up, down = logged_bytes(proxy.log, r"session end .*?: \d+ datagrams \((\d+) bytes\)"
                                   r" up, \d+ datagrams \((\d+) bytes\) down")
    print("udp: %d sessions in %.1f s, %d errors" % (totals.count, elapsed, totals.errors))
    check(failures, totals.errors == 0, "every session answered")
    check(failures, after["fds"] == before["fds"], "no fd growth %s -> %s" %
          (before["fds"], after["fds"]))
    check(failures, after["zombies"] == 0, "no zombies")
    check(failures, (up, down) == (totals.up, totals.down) and 0 < count <= UDP_SESSIONS,
          "bytes accounted: log %d sessions %d up %d down, clients %d up %d down" %
          (count, up, down, totals.up, totals.down))
    rss = [after["rss"][pid] - middle["rss"].get(pid, 0) for pid in after["rss"]]
    check(failures, max(rss) <= 64, "listener and main memory flat over the second half "
          "(growth kB: %s)" % rss)


def main():
    if not wl.is_root():
        print("soak: needs root for network namespaces")
        return 1
    failures = []  # one bool per check
    topo = wl.Topology()
    try:
        wl.start_nginx(topo)
        soak_tcp(topo, failures)
        soak_udp(topo, failures)
    finally:
        topo.close()
    print("soak: %d passed, %d failed" % (failures.count(True), failures.count(False)))
    return 0 if all(failures) else 1


if __name__ == "__main__":
    sys.exit(main())
