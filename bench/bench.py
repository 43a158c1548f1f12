#!/usr/bin/env python3
"""make bench: whitelist against socat (the old image's exact command lines),
side by side in one run, in network namespaces (client -> proxy -> server).

Workloads, each run alternately A B A B so drift hits both alike:
  conn/s   new connections per second: wrk -H "Connection: close" to nginx
  Gbit/s   bulk throughput: iperf3 over TCP
  PSS kB   memory per idle relayed connection: 100 held open, PSS of the
           proxy's whole process tree (smaps_rollup) before and after / 100
  dgram/s  UDP datagrams per second through one session: iperf3 -u at full
           speed (on 2 cores the sender competes with the proxy for CPU), and
           datagrams per CPU-second of the proxy at a load both carry
HAProxy runs too where it is installed, as the reference a user might pick.
Prints each figure and the ratio whitelist/socat. Timing is reported, never
asserted: speed is a benchmark, not a test.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t"))
import wl  # noqa: E402
from wl import OUT_V4, PX_IN_V4  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
IDLE = 100
HTTP, IPERF = 80, 5201

HAPROXY_CONF = """global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
listen http
    bind :::80 v4v6
    server target {target}:80
listen iperf
    bind :::5201 v4v6
    server target {target}:5201
"""


def socat_commands(mode, port):
    """The old image's command lines (proxy.py), per port."""
    if mode == "udp":
        return [["socat", "udp-listen:%d,fork,reuseaddr,max-children=100" % port,
                 "udp-connect:%s:%d" % (OUT_V4, port)]]
    return [["socat", "tcp-listen:%d,fork,reuseaddr,max-children=100" % port,
             "tcp-connect:%s:%d" % (OUT_V4, port)]]


class Proxy:
    """One proxy under test, started for a workload and stopped after it."""

    def __init__(self, topo, kind):
        self.topo, self.kind, self.procs = topo, kind, []

    def start(self, mode="tcp", ports=(HTTP, IPERF)):
        if self.kind == "whitelist":
            self.procs = [self.topo.start_proxy(PORT=" ".join(map(str, ports)), MODE=mode,
                                                wait_ports=False)]
        elif self.kind == "socat":
            self.procs = [self.topo.start(self.topo.proxy, cmd)
                          for port in ports for cmd in socat_commands(mode, port)]
        else:
            conf = os.path.join(self.topo.tmp, "haproxy.cfg")
            with open(conf, "w") as f:
                f.write(HAPROXY_CONF.format(target=OUT_V4))
            self.procs = [self.topo.start(self.topo.proxy, ["haproxy", "-f", conf, "-db"])]
        proto = "tcp" if mode == "tcp" else "udp"
        for port in ports:
            wl.wait_until(lambda: self.topo.listening(self.topo.proxy, port, proto),
                          what="%s on %d" % (self.kind, port))

    def stop(self):
        for proc in self.procs:
            self.topo.stop(proc, 9)
        # socat's forked children outlive their parent: end them by PID too.
        for pid in wl.run("ip", "netns", "pids", self.topo.proxy, check=False).stdout.split():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        self.procs = []

    def tree(self):
        pids, todo = [], [p.pid for p in self.procs]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(self.topo.children(pid))
        return pids


def pss_kb(pids):
    total = 0
    for pid in pids:
        text = wl.read("/proc/%d/smaps_rollup" % pid)
        match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
        total += int(match.group(1)) if match else 0
    return total


def measure_conn_rate(topo, proxy):
    out = wl.run("ip", "netns", "exec", topo.inside, "wrk", "-t2", "-c32",
                 "-d%ds" % SECONDS, "-H", "Connection: close",
                 "http://%s:%d/hello" % (PX_IN_V4, HTTP), check=False).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        print("    (%s: wrk socket errors: %s)" % (proxy.kind, errors.group(1)))
    return float(match.group(1)) if match else 0.0


def measure_throughput(topo, proxy):
    out = wl.run("ip", "netns", "exec", topo.inside, "iperf3", "-c", PX_IN_V4, "-p",
                 str(IPERF), "-t", str(SECONDS), "-J", check=False).stdout
    try:
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
    except (ValueError, KeyError):
        return 0.0


def upstream_connections(topo):
    out = wl.run("ip", "netns", "exec", topo.outside, "ss", "-tnH", "state", "established",
                 "( sport = :%d )" % HTTP).stdout
    return len(out.splitlines())


def measure_idle_pss(topo, proxy):
    time.sleep(0.3)
    before = pss_kb(proxy.tree())
    socks = []
    for _ in range(IDLE):
        sock = topo.connect(HTTP)
        socks.append(sock)
    wl.wait_until(lambda: upstream_connections(topo) >= IDLE, timeout=10,
                  what="%d relayed connections" % IDLE)
    time.sleep(0.5)
    after = pss_kb(proxy.tree())
    for sock in socks:
        sock.close()
    return (after - before) / IDLE


def cpu_seconds(pids):
    """User and system time of the processes, and of their reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = wl.read("/proc/%d/stat" % pid).rsplit(")", 1)[-1].split()
        if len(fields) > 15:
            total += sum(int(value) for value in fields[11:15])
    return total / ticks


def measure_udp_efficiency(topo, proxy):
    """Datagrams per CPU-second of the proxy at a load both can carry (about 49,000/s)."""
    before = cpu_seconds(proxy.tree())
    out = wl.run("ip", "netns", "exec", topo.inside, "iperf3", "-u", "-b", "200M", "-l", "512",
                 "-c", PX_IN_V4, "-p", str(IPERF), "-t", str(SECONDS), "-J",
                 check=False).stdout
    used = cpu_seconds(proxy.tree()) - before
    try:
        end = json.loads(out)["end"]["sum"]
        return (end["packets"] - end["lost_packets"]) / max(used, 0.01)
    except (ValueError, KeyError):
        return 0.0


def measure_udp_rate(topo, proxy):
    out = wl.run("ip", "netns", "exec", topo.inside, "iperf3", "-u", "-b", "0", "-l", "512",
                 "-c", PX_IN_V4, "-p", str(IPERF), "-t", str(SECONDS), "-J",
                 check=False).stdout
    try:
        end = json.loads(out)["end"]["sum"]
        return (end["packets"] - end["lost_packets"]) / end["seconds"]
    except (ValueError, KeyError):
        return 0.0


WORKLOADS = [
    ("new connections/s", "conn/s", "tcp", measure_conn_rate, "higher"),
    ("bulk throughput", "Gbit/s", "tcp", measure_throughput, "higher"),
    ("PSS per idle connection", "kB", "tcp", measure_idle_pss, "lower"),
    ("UDP datagrams/s, one session, sender at full speed", "dgram/s", "udp", measure_udp_rate,
     "higher"),
    ("UDP datagrams per proxy CPU-second, one session at 49,000/s", "dgram/cpu-s", "udp",
     measure_udp_efficiency, "higher"),
]


def start_servers(topo):
    wl.start_nginx(topo, port=HTTP)
    topo.start(topo.outside, ["iperf3", "-s", "-B", OUT_V4, "-p", str(IPERF)])
    wl.wait_until(lambda: topo.listening(topo.outside, IPERF), what="iperf3")


def run_workload(topo, kinds, workload):
    title, unit, mode, measure, _ = workload
    results = {kind: [] for kind in kinds}
    for _ in range(ROUNDS):
        for kind in kinds:
            if mode == "udp" and kind == "haproxy":
                continue  # HAProxy does not relay UDP
            proxy = Proxy(topo, kind)
            ports = (IPERF,) if mode == "udp" else (HTTP, IPERF)
            helper = None
            if mode == "udp":  # iperf3's control connection is TCP on the same port
                helper = Proxy(topo, kind)
                helper.start("tcp", ports)
            proxy.start(mode, ports)
            try:
                results[kind].append(measure(topo, proxy))
            finally:
                proxy.stop()
                if helper:
                    helper.stop()
    return results


def report(workload, results):
    title, unit, _, _, better = workload
    means = {kind: sum(v) / len(v) for kind, v in results.items() if v}
    print("%s (%s is better)" % (title, better))
    for kind, values in results.items():
        if values:
            print("  %-10s %10.1f %-8s runs: %s" % (kind, means[kind], unit,
                                                    " ".join("%.1f" % v for v in values)))
    if means.get("socat"):
        print("  ratio whitelist/socat: %.2f" % (means["whitelist"] / means["socat"]))
    if means.get("haproxy"):
        print("  ratio whitelist/haproxy: %.2f" % (means["whitelist"] / means["haproxy"]))
    sys.stdout.flush()


def main():
    if not wl.is_root():
        print("bench: needs root for network namespaces")
        return 1
    for tool in ("wrk", "iperf3", "socat", "nginx"):
        if not shutil.which(tool):
            print("bench: %s is missing (apt-get install %s)" % (tool, tool))
            return 1
    kinds = ["socat", "whitelist"] + (["haproxy"] if shutil.which("haproxy") else [])
    topo = wl.Topology()
    try:
        start_servers(topo)
        print("bench: %d rounds of %d s, A B A B: %s" % (ROUNDS, SECONDS, " ".join(kinds)))
        for workload in WORKLOADS:
            report(workload, run_workload(topo, kinds, workload))
    finally:
        topo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
