"""make bench's memory workload: what an idle relayed connection costs, at
several counts of them open at once (bench.py's BENCH_IDLE).

Per connection: the PSS delta of the proxy's process tree, and the deltas of
/proc/meminfo's Slab, KernelStack and PageTables (the kernel's share, which
PSS does not show), for the proxy and for the same connections made without
a proxy (the client's and server's own sockets, "ends"). The server is a
listening socket of this process that never accepts (IdleServer): alike in
every row, and counted without running `ss`."""
import re
import resource
import socket
import statistics
import struct
import time

import wl
from wl import OUT_V4, PX_IN_V4
from peers import IDLE_PORT
from report import mean, ratio_line, rounds, spread

KERNEL_FIELDS = ("Slab", "KernelStack", "PageTables")
# Connections not yet through to the server, at most, while opening: socat's
# backlog is 5, and a handshake completed beyond it (by SYN cookie) is lost
# for good when the client then says nothing. The others have thousands.
PACE = {"socat": 3}
PACE_DEFAULT = 200
BACKLOG = 16384  # connections the server holds, at most
LINGER_RST = struct.pack("ii", 1, 0)  # close by RST: no TIME_WAIT left to be freed later


def pss_kb(pids):
    total = 0
    for pid in pids:
        match = re.search(r"^Pss:\s+(\d+) kB", wl.read("/proc/%d/smaps_rollup" % pid), re.M)
        total += int(match.group(1)) if match else 0
    return total


def meminfo():
    values = {}
    for line in wl.read("/proc/meminfo").splitlines():
        name, _, rest = line.partition(":")
        if name in KERNEL_FIELDS:
            values[name] = int(rest.split()[0])
    return values


def stable_meminfo(samples=7, interval=0.1):
    """The median of several readings of each field: one reading can catch a
    neighbour's burst, the median of seven seldom does."""
    readings = []
    for _ in range(samples):
        readings.append(meminfo())
        time.sleep(interval)
    return {name: statistics.median(r[name] for r in readings) for name in KERNEL_FIELDS}


class IdleServer:
    """Listens on OUT_V4:IDLE_PORT in the server namespace and never accepts:
    the connections wait, established, in its accept queue (no descriptor of
    this process each, under a hard limit this process cannot raise), whose
    length TCP_INFO gives without running `ss`. Closing it resets them all."""

    def __init__(self, topo):
        wl.run("ip", "netns", "exec", topo.outside, "sysctl", "-q", "-w",
               "net.core.somaxconn=%d" % BACKLOG)
        self.topo = topo
        self.sock = None
        self.listen()

    def listen(self):
        with wl.Netns(self.topo.outside):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((OUT_V4, IDLE_PORT))
        self.sock.listen(BACKLOG)

    def count(self):
        """The connections through to the server: its accept queue's length
        (tcp_info's tcpi_unacked, for a listening socket)."""
        info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        return struct.unpack_from("8B6I", info)[12]

    def drop_all(self):
        self.close()
        self.listen()

    def close(self):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        self.sock.close()


def close_all(socks):
    for sock in socks:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        sock.close()


def wait_for(predicate, timeout, what):
    wl.wait_until(predicate, timeout=timeout, interval=0.002, what=what)


def open_idle(server, ns, host, count, pace):
    """count TCP connections from namespace ns to host:IDLE_PORT, left idle,
    fewer than `pace` of them at any time not yet through to the server."""
    socks = []
    with wl.Netns(ns):
        for _ in range(count):
            socks.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    for done, sock in enumerate(socks):
        if done - server.count() >= pace:
            wait_for(lambda: done - server.count() < pace, 60,
                     "%d connections through" % (done - pace + 1))
        sock.settimeout(10)
        sock.connect((host, IDLE_PORT))
    return socks


def end_idle(server, socks, proxy, baseline):
    """Closes both ends (the server's first) and waits for the relays to go."""
    server.drop_all()
    close_all(socks)
    if proxy:
        wait_for(lambda: len(proxy.tree()) <= baseline, 120, "relays gone")


def warm_up(topo, server, proxy):
    """A first connection or two: lazily made state is not per connection.
    Returns the proxy's process count and PSS without connections."""
    baseline = len(proxy.tree())
    end_idle(server, open_idle(server, topo.inside, PX_IN_V4, 3, 3), proxy, baseline)
    time.sleep(0.3)
    return baseline, pss_kb(proxy.tree())


def measure_idle_memory(topo, server, proxy, count):
    """kB per idle relayed connection, count of them open: PSS of the proxy's
    tree, and the kernel's Slab, KernelStack and PageTables, from before the
    connections to after. proxy None: the same connections straight to the
    server (the ends' share)."""
    baseline, pss_before = warm_up(topo, server, proxy) if proxy else (0, 0)
    # Nothing may read /proc/PID of a new relay before the kernel readings:
    # every /proc/PID looked at adds its inodes to the slab.
    before = stable_meminfo()
    if proxy:
        socks = open_idle(server, topo.inside, PX_IN_V4, count,
                          PACE.get(proxy.kind, PACE_DEFAULT))
    else:
        socks = open_idle(server, topo.proxy, OUT_V4, count, PACE_DEFAULT)
    try:
        wait_for(lambda: server.count() >= count, 60, "%d relayed connections" % count)
        time.sleep(0.5)
        after = stable_meminfo()
        pss = (pss_kb(proxy.tree()) - pss_before) / count if proxy else 0.0
    finally:
        end_idle(server, socks, proxy, baseline)
    figures = {name: (after[name] - before[name]) / count for name in KERNEL_FIELDS}
    figures["PSS"] = pss
    return figures


def raise_fd_limit():
    """This process holds the client end of every idle connection: the soft
    limit up to the hard one (which needs CAP_SYS_RESOURCE to raise)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---------------------------------------------------------------- report

GOAL_KB = 55  # issue 25: the proxy's own memory per idle connection
FLAT = 1.10   # "flat": at the largest count at most this much of the smallest's


def bench_memory(topo, kinds, counts, skip=None):
    """The workload at every count; skip: {(kind, count): reason} not measured."""
    server = IdleServer(topo)
    totals = {}
    try:
        for count in counts:
            measured = [k for k in kinds if (k, count) not in (skip or {})]
            for kind in kinds:
                if kind not in measured:
                    print("  %s at %d: skipped (%s)" % (kind, count, skip[(kind, count)]))
            totals[count] = memory_at(topo, server, measured, count)
    finally:
        server.close()
    if len(counts) > 1:
        low, high = min(counts), max(counts)
        for kind in kinds:
            if kind in totals[low] and kind in totals[high]:
                ratio_line("%s %d/%d (total)" % (kind, high, low), totals[high][kind],
                           totals[low][kind], FLAT if kind == "whitelist" else None,
                           lower_better=True)


def memory_at(topo, server, kinds, count):
    print("memory per idle relayed connection, %d open at once (lower is better), "
          "kB per connection:" % count)
    print("  PSS: the proxy's process tree (smaps_rollup); Slab, KernelStack, PageTables: "
          "/proc/meminfo,\n  median of 7 readings before and after; ends: the same "
          "connections without a proxy\n  (client and server sockets, in every row); "
          "own = kernel - ends; total = PSS + own")
    results = rounds(topo, ["ends"] + kinds,
                     lambda topo, proxy: measure_idle_memory(topo, server, proxy, count),
                     lambda proxy: proxy.start("tcp", (IDLE_PORT,), MAX_CONNECTIONS=20000))
    ends = [sum(r[f] for f in KERNEL_FIELDS) for r in results["ends"]]
    totals = print_table(["ends"] + kinds, results, ends)
    print("  (each cell: round 1/round 2...; spread of total: %s)" % ", ".join(
        "%s %.0f%%" % (kind, spread(totals[kind])) for kind in kinds))
    for kind in kinds:
        print("  %-10s total %.1f kB per connection (PSS + own kernel), with the ends' "
              "%.1f: %.1f kB" % (kind, mean(totals[kind]), mean(ends),
                                 mean(totals[kind]) + mean(ends)))
    if "whitelist" in totals:
        own = mean(totals["whitelist"])
        print("  whitelist goal <= %d kB (PSS + own kernel) at %d: %.1f kB, %s" % (
            GOAL_KB, count, own, "met" if own <= GOAL_KB else "NOT met"))
        for peer in ("socat", "haproxy"):
            if peer in totals:
                ratio_line("whitelist/%s (total)" % peer, totals["whitelist"], totals[peer])
    return totals


def print_table(kinds, results, ends):
    print("  %-10s %13s %13s %13s %13s %13s %13s %13s" % (
        "", "PSS", "Slab", "KernelStack", "PageTables", "kernel", "own kernel", "total"))
    totals = {}
    for kind in kinds:
        runs = results[kind]
        kernel = [sum(r[f] for f in KERNEL_FIELDS) for r in runs]
        own = [k - e for k, e in zip(kernel, ends)] if kind != "ends" else kernel
        total = [r["PSS"] + o for r, o in zip(runs, own)]
        cells = [[r[f] for r in runs] for f in ("PSS",) + KERNEL_FIELDS] + [kernel, own, total]
        if kind == "ends":
            cells = cells[:-2]
        else:
            totals[kind] = total
        print("  %-10s %s" % (kind, " ".join(
            "%13s" % ("/".join("%.1f" % v for v in cell)) for cell in cells)))
    return totals
