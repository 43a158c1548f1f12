#!/usr/bin/env python3
"""make bench: whitelist against socat (the old image's command lines),
HAProxy and nginx's stream module, side by side in one run, in network
namespaces (client -> proxy -> server), as the end-to-end tests build them.

Every workload runs in rounds, each proxy in turn within a round (A B C A B
C), so that drift and the neighbours' load hit all alike; each figure is
printed per round, with its mean, its spread between rounds and the ratios
round by round. Speed is reported, never asserted: the goals are printed
beside the ratios as "met" or "NOT met", and the exit status says nothing.
Each proxy's whole process tree runs in a cgroup of its own
(/sys/fs/cgroup/cpuacct/wlbench-KIND), whose cpuacct.usage is its CPU.

  memory    per idle relayed connection, at each count of BENCH_IDLE open at
            once: the PSS delta of the proxy's process tree, and the deltas of
            /proc/meminfo's Slab, KernelStack and PageTables, for the proxy
            and for the same connections made without a proxy (bench/memory.py)
  conn/s    new connections per second: wrk, "Connection: close", to nginx;
            the CPU per connection of each proxy (its cgroup's usage / wrk's
            requests); the machine's fork floor beside it (bench/forkfloor.c:
            fork + _exit + waitpid, and the fork call at 1 and 1,000 live
            children)
  busy      the same conn/s with two busy loops beside (the neighbours of a
            busy host)
  Gbit/s    bulk throughput: iperf3 over TCP
  h2        HTTP/2 requests per second over TLS, many small messages on few
            connections: h2load -c10 -m10 to nginx (http2, keepalive_requests
            1000000), through each proxy as a plain TCP forward
  dgram/s   UDP datagrams per second delivered through one session, between
            a cheap sender and receiver (bench/udpflood.c), the proxy pinned
            to its own core; and datagrams per CPU-second of the proxy
  TLS/s     TLS connections per second, full handshakes, through whitelist
            with one TARGET, whitelist in routed mode (the name from the
            ClientHello) and HAProxy routing by req.ssl_sni
  CONNECT   TLS connections per second through an explicit proxy (HTTP
            CONNECT, then a full handshake; bench/connectload.c, as wrk speaks
            no proxy protocol): whitelist's CONNECT_PORT, squid and tinyproxy
            (Debian's, each allowing the two names on 443), and whitelist's
            routed mode reached directly by the same client

Peers: socat; HAProxy with `nbthread 1` (haproxy, the reference the goals
name) and `nbthread 2` (haproxy-2t); nginx stream (nginx, 2 workers for TCP).
Environment: BENCH_ROUNDS (2), BENCH_SECONDS (4), BENCH_IDLE (counts of idle
connections, comma-separated: 500,10000), BENCH_ONLY (workload keys,
comma-separated: memory,conn,busy,bulk,h2,udp,tls,connect), BENCH_WHITELIST
(another build of the proxy to measure, e.g. an experiment's).
"""
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "t"))
import wl  # noqa: E402
from wl import OUT_V4, PX_IN_V4, IN_V4  # noqa: E402
import memory  # noqa: E402
import peers  # noqa: E402
from peers import (HTTP, IPERF, TLS, UDP, CONNECT, H2, NAMES, CpuGroup, Proxy,  # noqa: E402
                   build, start_spinners, stop_spinners)
from report import ROUNDS, column, line, ratio_line, rounds  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
IDLE = [int(n) for n in os.environ.get("BENCH_IDLE", "500,10000").split(",") if n]
ONLY = [key for key in os.environ.get("BENCH_ONLY", "").split(",") if key]
wl.WHITELIST = os.path.abspath(os.environ.get("BENCH_WHITELIST", wl.WHITELIST))
CONNECT_WORKERS = 16
CLIENT_NAME = "client.bench.test"  # the wrk client (IN_V4), as POLICY names it
UDP_SIZE = 512
UDP_WARMUP = 1
PROXY_CPU, PEERS_CPU = "1", "0"  # UDP: the proxy on a core of its own
FORK_SECONDS, FORK_LIVE = 1, 1000


def cpu_seconds(pids):
    """User and system time of the processes and of their reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = wl.read("/proc/%d/stat" % pid).rsplit(")", 1)[-1].split()
        if len(fields) > 15:
            total += sum(int(value) for value in fields[11:15])
    return total / ticks


# ---------------------------------------------------------------- workloads

def measure_conn_rate(topo, proxy):
    """wrk's connections/s, and the proxy's CPU per connection: its cgroup's
    usage over the run (and the last relays' exits) / wrk's requests, each a
    connection of its own."""
    before = proxy.usage_us()
    out = wl.run("ip", "netns", "exec", topo.inside, "wrk", "-t2", "-c32",
                 "-d%ds" % SECONDS, "-H", "Connection: close",
                 "http://%s:%d/hello" % (PX_IN_V4, HTTP), check=False).stdout
    time.sleep(0.3)
    used = proxy.usage_us() - before
    requests = re.search(r"(\d+) requests in", out)
    count = int(requests.group(1)) if requests else 0
    return {"rate": wrk_rate(out, proxy.kind), "cpu_us": used / count if count else 0.0}


def wrk_rate(out, kind):
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        print("    (%s: wrk socket errors: %s)" % (kind, errors.group(1)))
    if not re.search(r"Requests/sec", out):
        print("    (%s: wrk failed: %s)" % (kind, out.strip()[-200:]))
    return float(match.group(1)) if match else 0.0


def measure_fork_floor(topo):
    """bench/forkfloor with 1 and with FORK_LIVE live children."""
    figures = {}
    for live in (1, FORK_LIVE):
        out = wl.run(topo.forkfloor, str(FORK_SECONDS), str(live)).stdout
        found = re.search(r"cycles (\d+) seconds ([\d.]+) fork_us ([\d.]+)", out)
        cycles, seconds, fork_us = int(found.group(1)), float(found.group(2)), \
            float(found.group(3))
        figures[live] = {"rate": cycles / seconds, "cycle_us": seconds / cycles * 1e6,
                         "fork_us": fork_us}
    return figures


def measure_throughput(topo, proxy):
    out = wl.run("ip", "netns", "exec", topo.inside, "iperf3", "-c", PX_IN_V4, "-p",
                 str(IPERF), "-t", str(SECONDS), "-J", check=False).stdout
    try:
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
    except (ValueError, KeyError):
        return 0.0


def read_io(pids):
    """read(2) calls and their bytes (syscr, rchar) of the processes, their
    reaped children's included; recv(2) and splice(2) are not counted."""
    calls = size = 0
    for pid in pids:
        fields = dict(l.split(": ") for l in wl.read("/proc/%d/io" % pid).splitlines()
                      if ": " in l)
        calls += int(fields.get("syscr", 0))
        size += int(fields.get("rchar", 0))
    return calls, size


def measure_h2(topo, proxy):
    """h2load's requests/s, the proxy's CPU per request, and its read(2) calls
    (counted once the relays are reaped, into their parent's /proc/PID/io)."""
    baseline = len(proxy.tree())
    io_before, cpu_before = read_io(proxy.tree()), proxy.usage_us()
    out = wl.run("ip", "netns", "exec", topo.inside, "h2load", "-c10", "-m10",
                 "-D", str(SECONDS),
                 "https://%s:%d/" % (PX_IN_V4, H2), check=False, timeout=SECONDS + 60).stdout
    wl.wait_until(lambda: len(proxy.tree()) <= baseline, timeout=20, what="relays reaped")
    cpu = proxy.usage_us() - cpu_before
    calls, size = (a - b for a, b in zip(read_io(proxy.tree()), io_before))
    rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if not rate or not done or int(done.group(2)) == 0:
        print("    (%s: h2load failed: %s)" % (proxy.kind, out.strip()[-300:]))
        return {"rate": 0.0, "cpu_us": 0.0, "reads": 0.0, "read_size": 0.0}
    requests = int(done.group(2))
    return {"rate": float(rate.group(1)), "cpu_us": cpu / requests,
            "reads": calls / requests, "read_size": size / calls if calls else 0.0}


def start_udp_sink(topo):
    proc = subprocess.Popen(["ip", "netns", "exec", topo.outside, "taskset", "-c", PEERS_CPU,
                             topo.udpflood, "sink", OUT_V4, str(UDP), str(SECONDS),
                             str(UDP_WARMUP)], stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("udpflood sink did not start")
    return proc


def measure_udp(topo, proxy):
    """Datagrams/s delivered to the sink in its window, and per CPU-second of the
    proxy over the whole run; the sender sends faster than any proxy relays."""
    sink = start_udp_sink(topo)
    softirqd = ksoftirqd(PROXY_CPU)
    cpu_before, wall_before = cpu_seconds(softirqd) + proxy.usage_us() / 1e6, time.monotonic()
    drops_before = [udp_drops(topo, ns) for ns in (topo.proxy, topo.outside)]
    # SCHED_IDLE: the sender takes only the time the sink leaves on their core.
    sent = wl.run("ip", "netns", "exec", topo.inside, "taskset", "-c", PEERS_CPU,
                  "chrt", "-i", "0", topo.udpflood, "send", PX_IN_V4, str(UDP), str(SECONDS + UDP_WARMUP + 1),
                  str(UDP_SIZE), check=False).stdout
    cpu = cpu_seconds(softirqd) + proxy.usage_us() / 1e6 - cpu_before
    wall = time.monotonic() - wall_before
    out, _ = sink.communicate(timeout=30)
    drops = [udp_drops(topo, ns) - before for ns, before in
             zip((topo.proxy, topo.outside), drops_before)]
    match = re.search(r"total (\d+) window (\d+) seconds ([\d.]+)", out)
    sent_match = re.search(r"sent (\d+)", sent)
    if not match:
        return {"rate": 0.0, "per_cpu": 0.0, "busy": 0.0, "sent": 0.0, "drops": drops}
    total, window, seconds = int(match.group(1)), int(match.group(2)), float(match.group(3))
    return {"rate": window / seconds, "per_cpu": total / max(cpu, 0.01),
            "busy": cpu / wall, "sent": int(sent_match.group(1)) / wall if sent_match else 0.0,
            "drops": [d / wall for d in drops]}


def ksoftirqd(cpu):
    """The PID of ksoftirqd/CPU: network work the proxy's sends start and the
    kernel defers (under load, as with GSO bursts) is charged to it, not to the proxy."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and wl.read("/proc/%s/comm" % entry).strip() == "ksoftirqd/" + cpu:
            return [int(entry)]
    return []


def udp_drops(topo, ns):
    """Datagrams the namespace's UDP sockets dropped for a full receive buffer."""
    lines = [l.split() for l in wl.run("ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
             .stdout.splitlines() if l.startswith("Udp:")]
    return int(dict(zip(lines[0], lines[1]))["RcvbufErrors"])


def measure_tls(topo, proxy):
    """Full TLS handshakes per second: one wrk per name, each connection closed
    after its response, so every request is a new connection and handshake."""
    runs = [subprocess.Popen(["ip", "netns", "exec", topo.inside, "wrk", "-t1", "-c16",
                              "-d%ds" % SECONDS, "-H", "Connection: close",
                              "https://%s/hello" % name], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for name in NAMES]
    return sum(wrk_rate(run.communicate(timeout=SECONDS + 60)[0], proxy.kind) for run in runs)


def measure_connect(topo, proxy):
    """TLS connections/s by bench/connectload: through CONNECT on 3128, or (routed
    mode) straight to 443 with the name as SNI; and connections per CPU-second of
    the proxy's processes (their reaped children's included), which the machine's
    other load does not change."""
    direct = proxy.kind == "whitelist-routed"
    before = proxy.usage_us()
    out = wl.run("ip", "netns", "exec", topo.inside, topo.connectload, PX_IN_V4,
                 str(TLS if direct else CONNECT), str(SECONDS), str(CONNECT_WORKERS),
                 "DIRECT" if direct else "CONNECT", *NAMES, timeout=SECONDS + 60).stdout
    time.sleep(0.2)  # the last relays' exits
    used = (proxy.usage_us() - before) / 1e6
    found = re.search(r"connections (\d+) errors (\d+) rate ([\d.]+)", out)
    if not found:
        raise RuntimeError("connectload through %s: %r" % (proxy.kind, out))
    if int(found.group(2)) > int(found.group(1)) // 100:
        print("  (%s: %s errors, %s connections)" % (proxy.kind, found.group(2), found.group(1)))
    return {"rate": float(found.group(3)),
            "per_cpu": int(found.group(1)) / used if used > 0 else 0.0}


# ---------------------------------------------------------------- setup

def widen_ports(topo):
    """Tens of thousands of short connections a round from one address: the
    connecting namespaces reuse TIME_WAIT ports and have the whole range, or a
    later round runs out of source ports and measures that instead."""
    for ns in (topo.inside, topo.proxy):
        wl.run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1",
               "net.ipv4.ip_local_port_range=1024 65000")


def routed_mode_built(topo):
    """Whether this binary takes several TARGET entries (it exits 2 when not)."""
    proxy = Proxy(topo, "whitelist-routed")
    try:
        proxy.start("tcp", (TLS,), TARGET=" ".join(NAMES))
        return True
    except RuntimeError:
        return False
    finally:
        proxy.stop()


# ---------------------------------------------------------------- reports

def start_conn(proxy):
    # whitelist-policy: the same proxy with a POLICY rule for its TARGET that names
    # the client by host name, so every accept runs the check (docs/policy.md).
    # whitelist-name: TARGET by name, the usual configuration (PRE_RESOLVE=0:
    # each relay asks the system resolver, here the proxy's /etc/hosts).
    if proxy.kind == "whitelist-policy":
        proxy.start("tcp", (HTTP,), POLICY="%s = %s" % (CLIENT_NAME, OUT_V4))
    elif proxy.kind == "whitelist-name":
        proxy.start("tcp", (HTTP,), TARGET=NAMES[0])
    else:
        proxy.start("tcp", (HTTP,))


def conn_lines(kinds, results):
    for kind in kinds:
        line(kind, column(results, kind, "rate"), "conn/s")
    print("  CPU per connection: the proxy's cgroup (cpuacct.usage) / wrk's requests "
          "(lower is better)")
    for kind in kinds:
        line(kind, column(results, kind, "cpu_us"), "us/conn")


def fork_lines(floor):
    print("  fork floor (bench/forkfloor, static: fork + _exit + waitpid for %d s, "
          "in each round):" % FORK_SECONDS)
    line("cycles/s", [f[1]["rate"] for f in floor], "cycles/s")
    line("per cycle", [f[1]["cycle_us"] for f in floor], "us")
    line("fork call, 1 live", [f[1]["fork_us"] for f in floor], "us", "%.1f")
    line("fork call, %d live" % FORK_LIVE, [f[FORK_LIVE]["fork_us"] for f in floor],
         "us", "%.1f")
    line("cycles/s, %d live" % FORK_LIVE, [f[FORK_LIVE]["rate"] for f in floor], "cycles/s")


def bench_conn(topo, kinds):
    kinds = [k for k in ("socat", "whitelist", "whitelist-name", "whitelist-policy", "haproxy",
                         "haproxy-2t", "nginx")
             if k in kinds or k in ("whitelist-name", "whitelist-policy")]
    print("new connections/s: wrk -t2 -c32, Connection: close, to nginx /hello "
          "(higher is better);\n  whitelist-name: TARGET=%s (the system resolver, /etc/hosts);"
          " whitelist-policy: POLICY \"%s = %s\";\n  haproxy-2t: nbthread 2;"
          " nginx: stream, 2 workers" % (NAMES[0], CLIENT_NAME, OUT_V4))
    results = rounds(topo, kinds, measure_conn_rate, start_conn,
                     first={"forkfloor": measure_fork_floor})
    conn_lines(kinds, results)
    floor = results["forkfloor"]
    fork_lines(floor)
    rates = {kind: column(results, kind, "rate") for kind in kinds}
    cpu = {kind: column(results, kind, "cpu_us") for kind in kinds}
    ratio_line("whitelist/fork floor cycles/s", rates["whitelist"],
               [f[1]["rate"] for f in floor], 1.2)
    ratio_line("whitelist/socat", rates["whitelist"], rates["socat"], 3.0, every=True)
    ratio_line("POLICY/no POLICY", rates["whitelist-policy"], rates["whitelist"])
    ratio_line("TARGET by name/by IP", rates["whitelist-name"], rates["whitelist"])
    for peer in ("haproxy", "haproxy-2t", "nginx"):
        if peer in rates:
            ratio_line("whitelist/%s" % peer, rates["whitelist"], rates[peer],
                       0.6 if peer == "haproxy" else None)
    for peer in ("haproxy", "haproxy-2t", "nginx"):
        if peer in cpu:
            ratio_line("whitelist/%s CPU per conn" % peer, cpu["whitelist"], cpu[peer],
                       6.0 if peer == "haproxy" else None, lower_better=True)


def bench_busy(topo, kinds):
    kinds = [k for k in ("socat", "whitelist", "haproxy", "haproxy-2t", "nginx") if k in kinds]
    print("new connections/s under contention: the same wrk, with two busy loops "
          "(python3) beside,\n  in the root namespace (higher is better)")
    spinners = start_spinners(2)
    try:
        results = rounds(topo, kinds, measure_conn_rate, start_conn)
    finally:
        stop_spinners(spinners)
    conn_lines(kinds, results)
    rates = {kind: column(results, kind, "rate") for kind in kinds}
    ratio_line("whitelist/socat, busy", rates["whitelist"], rates["socat"])
    if "haproxy" in rates:
        ratio_line("whitelist/haproxy, busy", rates["whitelist"], rates["haproxy"], 0.3)
        ratio_line("whitelist/haproxy CPU per conn, busy", column(results, "whitelist", "cpu_us"),
                   column(results, "haproxy", "cpu_us"), 6.0, lower_better=True)
    for peer in ("haproxy-2t", "nginx"):
        if peer in rates:
            ratio_line("whitelist/%s, busy" % peer, rates["whitelist"], rates[peer])


def bench_bulk(topo, kinds):
    kinds = [k for k in ("socat", "whitelist", "haproxy") if k in kinds]
    print("bulk throughput: iperf3 TCP, one stream (higher is better)")
    results = rounds(topo, kinds, measure_throughput, lambda proxy: proxy.start("tcp", (IPERF,)))
    for kind in kinds:
        line(kind, results[kind], "Gbit/s", "%.2f")
    ratio_line("whitelist/socat", results["whitelist"], results["socat"])
    if "haproxy" in results:
        ratio_line("whitelist/haproxy", results["whitelist"], results["haproxy"], 1.5)


def bench_h2(topo, kinds):
    kinds = [k for k in ("socat", "whitelist", "haproxy") if k in kinds]
    print("HTTP/2 requests/s over TLS, many small messages: h2load -c10 -m10 -D %d to nginx\n"
          "  (http2, return 200, keepalive_requests 1000000), through each proxy as a TCP "
          "forward\n  (higher is better)" % SECONDS)
    results = rounds(topo, kinds, measure_h2, lambda proxy: proxy.start("tcp", (H2,)))
    for kind in kinds:
        line(kind, column(results, kind, "rate"), "req/s")
    print("  the proxy's CPU per request (its cgroup), and its read(2) calls "
          "(/proc/PID/io syscr, rchar;\n  HAProxy reads by recv(2), not counted):")
    for kind in kinds:
        line(kind + " CPU", column(results, kind, "cpu_us"), "us/req", "%.1f")
    for kind in kinds:
        if any(column(results, kind, "reads")):
            line(kind + " reads", column(results, kind, "reads"), "per req", "%.2f")
            line(kind + " read size", column(results, kind, "read_size"), "bytes")
    rates = {kind: column(results, kind, "rate") for kind in kinds}
    ratio_line("whitelist/socat", rates["whitelist"], rates["socat"], 1.0)
    if "haproxy" in rates:
        ratio_line("whitelist/haproxy", rates["whitelist"], rates["haproxy"], 0.9)


def bench_memory(topo, kinds):
    kinds = [k for k in ("socat", "whitelist", "haproxy") if k in kinds]
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]  # this process's: the clients
    maxconn = peers.haproxy_maxconn()
    skip = {("haproxy", n): "its maxconn is %d: two descriptors a connection, under the "
            "hard limit of %d, which it needs CAP_SYS_RESOURCE to raise" % (maxconn, limit)
            for n in IDLE if n > maxconn - 10}
    for n in IDLE:
        if n + 100 > limit:
            print("memory at %d: skipped (the client's descriptor limit is %d)" % (n, limit))
    memory.bench_memory(topo, kinds, [n for n in IDLE if n + 100 <= limit], skip)


def bench_udp(topo, kinds):
    kinds = [k for k in ("socat", "whitelist", "nginx") if k in kinds]  # HAProxy: no UDP
    print("UDP datagrams delivered, one session, %d-byte datagrams (higher is better):"
          % UDP_SIZE)
    print("  bench/udpflood sends 64 per system call (one GSO buffer, split into datagrams\n"
          "  before the proxy's socket) and receives 64 per recvmmsg, both on CPU %s; the\n"
          "  proxy alone on CPU %s (the sender as SCHED_IDLE: it gets what the sink leaves);\n"
          "  nginx: stream, listen udp, 1 worker (its workers would share the one socket).\n"
          "  The sender outpaces every proxy: the drops are at the proxy's socket, so the\n"
          "  proxy limits dgram/s, within the CPU share that neighbours leave it; per\n"
          "  CPU-second (delivered / the user+system time of the proxy and of ksoftirqd on its\n"
          "  core, which runs the deferred network work of its sends) does not depend on that share"
          % (PEERS_CPU, PROXY_CPU))
    results = rounds(topo, kinds, measure_udp,
                     lambda proxy: proxy.start("udp", (UDP,), pin=PROXY_CPU))
    for kind in kinds:
        runs = results[kind]
        line(kind + " dgram/s", [r["rate"] for r in runs], "dgram/s")
        line(kind + " per cpu-s", [r["per_cpu"] for r in runs], "dgram/cpu-s")
        print("  %-22s CPU the proxy (and ksoftirqd) got: %s of its core; offered %s/s;\n"
              "  %-22s dropped at the proxy's socket %s/s, at the sink's %s/s" % (
                  "", "/".join("%.0f%%" % (100 * r["busy"]) for r in runs),
                  "/".join("%.0f" % r["sent"] for r in runs), "",
                  "/".join("%.0f" % r["drops"][0] for r in runs),
                  "/".join("%.0f" % r["drops"][1] for r in runs)))
    ratio_line("whitelist/socat dgram/s", [r["rate"] for r in results["whitelist"]],
               [r["rate"] for r in results["socat"]], 3.0)
    if "nginx" in results:
        ratio_line("whitelist/nginx dgram/s", [r["rate"] for r in results["whitelist"]],
                   [r["rate"] for r in results["nginx"]], 1.5)
    for peer in ("socat", "nginx"):
        if peer in results:
            ratio_line("whitelist/%s per cpu-s" % peer,
                       [r["per_cpu"] for r in results["whitelist"]],
                       [r["per_cpu"] for r in results[peer]])


def bench_tls(topo, kinds):
    print("TLS connections/s, full handshakes (TLS 1.3, ECDSA P-256, no resumption): two wrk\n"
          "  -t1 -c16, one per name (%s), Connection: close; nginx has both names.\n"
          "  The handshakes' crypto at both ends takes most of the CPU: the ratios show what\n"
          "  the proxy and its routing add on top" % " and ".join(NAMES))
    routed = routed_mode_built(topo)
    starts = {
        "whitelist": lambda proxy: proxy.start("tcp", (TLS,), TARGET=NAMES[0]),
        "whitelist-routed": lambda proxy: proxy.start("tcp", (TLS,), TARGET=" ".join(NAMES)),
        "haproxy": lambda proxy: proxy.start("tcp", (TLS,)),
    }
    labels = {"whitelist": "whitelist, TARGET=%s" % NAMES[0],
              "whitelist-routed": "whitelist routed, TARGET=\"%s\"" % " ".join(NAMES),
              "haproxy": "HAProxy routing by req.ssl_sni (nbthread 1)"}
    tls_kinds = ["whitelist"] + (["whitelist-routed"] if routed else []) + \
        (["haproxy"] if "haproxy" in kinds else [])
    results = rounds(topo, tls_kinds, measure_tls, lambda proxy: starts[proxy.kind](proxy))
    for kind in tls_kinds:
        print("  " + labels[kind])
        line("", results[kind], "conn/s")
    if "haproxy" in results:
        ratio_line("whitelist-single/haproxy-routed", results["whitelist"], results["haproxy"])
    if not routed:
        print("  whitelist routed: n/a (routed mode not built: TARGET with two names exits 2)")
        return
    ratio_line("routed/single TARGET", results["whitelist-routed"], results["whitelist"], 0.9)
    if "haproxy" in results:
        ratio_line("whitelist-routed/haproxy-routed", results["whitelist-routed"],
                   results["haproxy"])


def bench_connect(topo, kinds):
    print("TLS connections/s through an explicit proxy (higher is better): bench/connectload,\n"
          "  %d processes, each: CONNECT name:443, wait for the 200, a full handshake (TLS 1.3,\n"
          "  ECDSA P-256, no resumption), GET /hello, Connection: close; the names alternate.\n"
          "  whitelist-routed: the same client straight to port 443 (the name from the SNI)"
          % CONNECT_WORKERS)
    starts = {
        "whitelist-connect": lambda proxy: proxy.start(
            "tcp", (TLS,), TARGET=" ".join(NAMES), CONNECT_PORT=CONNECT, MAX_CONNECTIONS=400),
        "whitelist-routed": lambda proxy: proxy.start("tcp", (TLS,), TARGET=" ".join(NAMES),
                                                      MAX_CONNECTIONS=400),
        "squid": lambda proxy: proxy.start("tcp", (CONNECT,)),
        "tinyproxy": lambda proxy: proxy.start("tcp", (CONNECT,)),
    }
    connect_kinds = ["whitelist-connect", "whitelist-routed"] + [
        kind for kind in ("squid", "tinyproxy") if shutil.which(kind)]
    for kind in ("squid", "tinyproxy"):
        if kind not in connect_kinds:
            print("  %s: n/a (not installed: t/deps.sh bench installs it)" % kind)
    results = rounds(topo, connect_kinds, measure_connect,
                     lambda proxy: starts[proxy.kind](proxy))
    rates = {kind: [r["rate"] for r in results[kind]] for kind in connect_kinds}
    per_cpu = {kind: [r["per_cpu"] for r in results[kind]] for kind in connect_kinds}
    for kind in connect_kinds:
        line(kind, rates[kind], "conn/s")
    print("  connections per CPU-second of the proxy (its cgroup):")
    for kind in connect_kinds:
        line(kind, per_cpu[kind], "conn/cpu-s")
    for label, figures in (("conn/s", rates), ("per cpu-s", per_cpu)):
        if "squid" in figures:
            ratio_line("whitelist-connect/squid " + label, figures["whitelist-connect"],
                       figures["squid"], 1.0)
        ratio_line("whitelist-connect/routed " + label, figures["whitelist-connect"],
                   figures["whitelist-routed"], 0.9)
        if "tinyproxy" in figures:
            ratio_line("whitelist-connect/tinyproxy " + label, figures["whitelist-connect"],
                       figures["tinyproxy"])


WORKLOADS = [("memory", bench_memory), ("conn", bench_conn), ("busy", bench_busy),
             ("bulk", bench_bulk), ("h2", bench_h2), ("udp", bench_udp), ("tls", bench_tls),
             ("connect", bench_connect)]
TOOLS = ("wrk", "iperf3", "socat", "nginx", "openssl", "taskset", "cc", "h2load")


def peer_kinds():
    kinds = ["socat", "whitelist"]
    if shutil.which("haproxy"):
        kinds += ["haproxy", "haproxy-2t"]
    if os.path.exists(peers.NGINX_STREAM_MODULE):
        kinds.append("nginx")
    return kinds


def set_up(topo):
    widen_ports(topo)
    peers.start_servers(topo)
    peers.start_tls_server(topo)
    topo.udpflood = build(topo, "udpflood")
    topo.connectload = build(topo, "connectload", "-lssl", "-lcrypto")
    topo.forkfloor = build(topo, "forkfloor", "-static")


def main():
    if not wl.is_root():
        print("bench: needs root for network namespaces")
        return 1
    for tool in TOOLS:
        if not shutil.which(tool):
            print("bench: %s is missing (t/deps.sh installs it)" % tool)
            return 1
    kinds = peer_kinds()
    memory.raise_fd_limit()
    started = time.monotonic()
    topo = wl.Topology(hosts=dict({name: OUT_V4 for name in NAMES}, **{CLIENT_NAME: IN_V4}))
    try:
        set_up(topo)
        print("bench: %d rounds of %d s, proxies in turn each round: %s; %d cores"
              % (ROUNDS, SECONDS, " ".join(kinds), os.cpu_count()))
        sys.stdout.flush()
        # Memory first: the TIME_WAIT sockets of the rate workloads would be freed
        # during it, a minute later, and read as negative slab.
        for key, bench in WORKLOADS:
            if not ONLY or key in ONLY:
                bench(topo, kinds)
    finally:
        shutil.rmtree("/etc/netns/" + topo.inside, ignore_errors=True)
        topo.close()
        CpuGroup.remove_all()
    print("bench: %.0f s" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
