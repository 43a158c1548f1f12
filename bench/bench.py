#!/usr/bin/env python3
"""make bench: whitelist against socat (the old image's command lines) and
HAProxy, side by side in one run, in network namespaces
(client -> proxy -> server), as the end-to-end tests build them.

Every workload runs in rounds, each proxy in turn within a round (A B C A B
C), so that drift and the neighbours' load hit all alike; each figure is
printed per round, with its mean, its spread between rounds and the ratios
round by round. Speed is reported, never asserted: the goals are printed
beside the ratios as "met" or "not met", and the exit status says nothing.

  conn/s    new connections per second: wrk, "Connection: close", to nginx
  Gbit/s    bulk throughput: iperf3 over TCP
  memory    per idle relayed connection, IDLE of them open at once: the PSS
            delta of the proxy's process tree, and the deltas of /proc/meminfo's
            Slab, KernelStack and PageTables (the kernel's share, which PSS
            does not show), for the proxy and for the same connections made
            without a proxy (the client's and server's own sockets)
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

HAProxy runs with `nbthread 1`: one thread, the reference the goals name.
Environment: BENCH_ROUNDS (2), BENCH_SECONDS (4), BENCH_IDLE (300),
BENCH_ONLY (workload keys, comma-separated: conn,bulk,memory,udp,tls,connect),
BENCH_WHITELIST (another build of the proxy to measure, e.g. an experiment's).
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "t"))
import wl  # noqa: E402
from wl import OUT_V4, PX_IN_V4, PX_OUT_V4, IN_V4  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
IDLE = int(os.environ.get("BENCH_IDLE", "300"))
ONLY = [key for key in os.environ.get("BENCH_ONLY", "").split(",") if key]
wl.WHITELIST = os.path.abspath(os.environ.get("BENCH_WHITELIST", wl.WHITELIST))
HTTP, IPERF, TLS, UDP, CONNECT = 80, 5201, 443, 5300, 3128
CONNECT_WORKERS = 16
NAMES = ("a.bench.test", "b.bench.test")
CLIENT_NAME = "client.bench.test"  # the wrk client (IN_V4), as POLICY names it
UDP_SIZE = 512
UDP_WARMUP = 1
PROXY_CPU, PEERS_CPU = "1", "0"  # UDP: the proxy on a core of its own

HAPROXY_CONF = """global
    nbthread 1
    maxconn 4000
defaults
    mode tcp
    maxconn 4000
    timeout connect 5s
    timeout client 1h
    timeout server 1h
listen http
    bind :::80 v4v6
    server target {target}:80
listen iperf
    bind :::5201 v4v6
    server target {target}:5201
frontend tls
    bind :::443 v4v6
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req_ssl_hello_type 1 }}
    use_backend tls_a if {{ req.ssl_sni -i a.bench.test }}
    use_backend tls_b if {{ req.ssl_sni -i b.bench.test }}
backend tls_a
    server a {target}:443
backend tls_b
    server b {target}:443
"""

NGINX_TLS_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx-tls.pid;
error_log {tmp}/nginx-tls-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body-tls;
    server {{
        listen {addr}:443 ssl reuseport backlog=4096;
        server_name {names};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        location /hello {{ return 200 "hello over TLS\\n"; }}
    }}
}}
"""


SQUID_CONF = """http_port {addr}:3128
acl SSL_ports port 443
acl CONNECT method CONNECT
acl targets dstdomain {names}
http_access deny CONNECT !SSL_ports
http_access allow targets
http_access deny all
workers 1
cache deny all
cache_mem 8 MB
access_log none
cache_store_log none
cache_log {tmp}/squid-cache.log
pid_filename {tmp}/squid.pid
coredump_dir {tmp}
max_filedescriptors 8192
shutdown_lifetime 0 seconds
visible_hostname whitelist-bench
"""

TINYPROXY_CONF = """Port 3128
Listen {addr}
Timeout 600
MaxClients 400
Allow 198.18.1.0/24
ConnectPort 443
FilterDefaultDeny Yes
Filter "{tmp}/tinyproxy-filter"
FilterExtended Yes
PidFile "{tmp}/tinyproxy.pid"
LogFile "{tmp}/tinyproxy.log"
LogLevel Critical
User nobody
Group nogroup
"""


def peer_proxy_command(topo, kind):
    """squid or tinyproxy in the foreground, configured to allow NAMES on 443 only."""
    tmp = topo.tmp
    conf = os.path.join(tmp, kind + ".conf")
    if kind == "squid":
        with open(conf, "w") as f:
            f.write(SQUID_CONF.format(addr=PX_IN_V4, names=" ".join(NAMES), tmp=tmp))
        return ["squid", "-N", "-f", conf]
    with open(os.path.join(tmp, "tinyproxy-filter"), "w") as f:
        f.write("".join("^%s$\n" % re.escape(name) for name in NAMES))
    with open(conf, "w") as f:
        f.write(TINYPROXY_CONF.format(addr=PX_IN_V4, tmp=tmp))
    return ["tinyproxy", "-d", "-c", conf]


def socat_commands(mode, port, children=100):
    """The old image's command line (proxy.py) for one port."""
    if mode == "udp":
        return ["socat", "udp-listen:%d,fork,reuseaddr,max-children=%d" % (port, children),
                "udp-connect:%s:%d" % (OUT_V4, port)]
    return ["socat", "tcp-listen:%d,fork,reuseaddr,max-children=%d" % (port, children),
            "tcp-connect:%s:%d" % (OUT_V4, port)]


class Proxy:
    """One proxy under test, started for one measurement and stopped after it.
    kind: socat, whitelist, whitelist-policy, whitelist-routed, whitelist-connect,
    haproxy, squid or tinyproxy."""

    def __init__(self, topo, kind):
        self.topo, self.kind, self.procs = topo, kind, []

    def start(self, mode="tcp", ports=(HTTP,), pin=None, **env):
        wrap = ["taskset", "-c", pin] if pin else []
        if self.kind.startswith("whitelist"):
            proc = self.topo.start_proxy(PORT=" ".join(map(str, ports)), MODE=mode,
                                         wait_ports=False, wrapper=wrap, **env)
            self.procs = [proc]
        elif self.kind in ("squid", "tinyproxy"):
            self.procs = [self.topo.start(self.topo.proxy,
                                          wrap + peer_proxy_command(self.topo, self.kind))]
        elif self.kind == "socat":
            children = int(env.get("MAX_CONNECTIONS", 100))
            self.procs = [self.topo.start(self.topo.proxy,
                                          wrap + socat_commands(mode, port, children))
                          for port in ports]
        else:
            conf = os.path.join(self.topo.tmp, "haproxy.cfg")
            with open(conf, "w") as f:
                f.write(HAPROXY_CONF.format(target=OUT_V4))
            self.procs = [self.topo.start(self.topo.proxy,
                                          wrap + ["haproxy", "-f", conf, "-db"])]
        proto = "tcp" if mode == "tcp" else "udp"
        for port in list(ports) + ([int(env["CONNECT_PORT"])] if "CONNECT_PORT" in env else []):
            wl.wait_until(lambda: self.topo.listening(self.topo.proxy, port, proto) or
                          self.procs[0].poll() is not None, what="%s on %d" % (self.kind, port))
        if self.procs[0].poll() is not None:
            raise RuntimeError("%s exited %s:\n%s" % (self.kind, self.procs[0].returncode,
                                                     wl.read(self.procs[0].log)))

    def stop(self):
        for proc in self.procs:
            # whitelist ends on SIGTERM (and removes its state file in /dev/shm).
            self.topo.stop(proc, signal.SIGTERM if self.kind.startswith("whitelist") else 9)
        # socat's forked children outlive their parent: end them by PID too.
        for pid in wl.run("ip", "netns", "pids", self.topo.proxy, check=False).stdout.split():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        self.procs = []

    def tree(self):
        """The PIDs of the proxy's processes ("ip netns exec" execs, so procs are them),
        from one pass over /proc."""
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = wl.read("/proc/%s/stat" % entry).rsplit(")", 1)[-1].split()
                if len(fields) > 1:
                    children.setdefault(int(fields[1]), []).append(int(entry))
        pids, todo = [], [p.pid for p in self.procs]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(children.get(pid, ()))
        return pids


# ---------------------------------------------------------------- readings

def pss_kb(pids):
    total = 0
    for pid in pids:
        match = re.search(r"^Pss:\s+(\d+) kB", wl.read("/proc/%d/smaps_rollup" % pid), re.M)
        total += int(match.group(1)) if match else 0
    return total


KERNEL_FIELDS = ("Slab", "KernelStack", "PageTables")


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


def cpu_seconds(pids):
    """User and system time of the processes and of their reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = wl.read("/proc/%d/stat" % pid).rsplit(")", 1)[-1].split()
        if len(fields) > 15:
            total += sum(int(value) for value in fields[11:15])
    return total / ticks


def established(topo, ns, port, local=True):
    side = "sport" if local else "dport"
    out = wl.run("ip", "netns", "exec", ns, "ss", "-tnH", "state", "established",
                 "( %s = :%d )" % (side, port)).stdout
    return len(out.splitlines())


# ---------------------------------------------------------------- workloads

def measure_conn_rate(topo, proxy):
    out = wl.run("ip", "netns", "exec", topo.inside, "wrk", "-t2", "-c32",
                 "-d%ds" % SECONDS, "-H", "Connection: close",
                 "http://%s:%d/hello" % (PX_IN_V4, HTTP), check=False).stdout
    return wrk_rate(out, proxy.kind)


def wrk_rate(out, kind):
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        print("    (%s: wrk socket errors: %s)" % (kind, errors.group(1)))
    if not re.search(r"Requests/sec", out):
        print("    (%s: wrk failed: %s)" % (kind, out.strip()[-200:]))
    return float(match.group(1)) if match else 0.0


def measure_throughput(topo, proxy):
    out = wl.run("ip", "netns", "exec", topo.inside, "iperf3", "-c", PX_IN_V4, "-p",
                 str(IPERF), "-t", str(SECONDS), "-J", check=False).stdout
    try:
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
    except (ValueError, KeyError):
        return 0.0


def open_idle(topo, ns, host, count, pace=3):
    """count TCP connections from namespace ns to host:80, left idle, at most
    `pace` of them not yet through to the server: socat's backlog is 5, and a
    handshake completed beyond it (by SYN cookie) is lost for good when the
    client then says nothing."""
    socks = []
    with wl.Netns(ns):
        for _ in range(count):
            socks.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    for done, sock in enumerate(socks, 1):
        sock.settimeout(10)
        sock.connect((host, HTTP))
        if done % pace == 0:
            wl.wait_until(lambda: established(topo, topo.outside, HTTP) >= done - pace,
                          timeout=20, what="%d connections through" % (done - pace))
    return socks


def close_all(socks):
    for sock in socks:
        sock.close()


def measure_idle_memory(topo, proxy):
    """kB per idle relayed connection: PSS of the proxy's tree, and the kernel's
    Slab, KernelStack and PageTables, from before IDLE connections to after.
    proxy None: the same connections straight to the server (the ends' share)."""
    if proxy:  # a first connection or two: lazily made state is not per connection
        for sock in open_idle(topo, topo.inside, PX_IN_V4, 3):
            sock.close()
        wl.wait_until(lambda: established(topo, topo.outside, HTTP) == 0, timeout=10,
                      what="warm-up connections closed")
        time.sleep(0.3)
        pss_before = pss_kb(proxy.tree())
    # Nothing may read /proc/PID of a new relay before the kernel readings:
    # every /proc/PID looked at adds its inodes to the slab.
    before = stable_meminfo()
    if proxy:
        socks = open_idle(topo, topo.inside, PX_IN_V4, IDLE)
    else:
        socks = open_idle(topo, topo.proxy, OUT_V4, IDLE)
    try:
        wl.wait_until(lambda: established(topo, topo.outside, HTTP) >= IDLE, timeout=20,
                      what="%d relayed connections" % IDLE)
        time.sleep(0.5)
        after = stable_meminfo()
        pss = (pss_kb(proxy.tree()) - pss_before) / IDLE if proxy else 0.0
    finally:
        close_all(socks)
    wl.wait_until(lambda: established(topo, topo.outside, HTTP) == 0, timeout=20,
                  what="idle connections closed")
    if proxy:
        wl.wait_until(lambda: len(proxy.tree()) <= len(proxy.procs) + 1, timeout=20,
                      what="relays gone")
    figures = {name: (after[name] - before[name]) / IDLE for name in KERNEL_FIELDS}
    figures["PSS"] = pss
    return figures


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
    pids = proxy.tree()
    softirqd = ksoftirqd(PROXY_CPU)
    cpu_before, wall_before = cpu_seconds(pids + softirqd), time.monotonic()
    drops_before = [udp_drops(topo, ns) for ns in (topo.proxy, topo.outside)]
    # SCHED_IDLE: the sender takes only the time the sink leaves on their core.
    sent = wl.run("ip", "netns", "exec", topo.inside, "taskset", "-c", PEERS_CPU,
                  "chrt", "-i", "0", topo.udpflood, "send", PX_IN_V4, str(UDP), str(SECONDS + UDP_WARMUP + 1),
                  str(UDP_SIZE), check=False).stdout
    pids = proxy.tree()  # the session was forked by the first datagram
    cpu = cpu_seconds(pids + softirqd) - cpu_before
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
    before = cpu_seconds(proxy.tree())
    out = wl.run("ip", "netns", "exec", topo.inside, topo.connectload, PX_IN_V4,
                 str(TLS if direct else CONNECT), str(SECONDS), str(CONNECT_WORKERS),
                 "DIRECT" if direct else "CONNECT", *NAMES, timeout=SECONDS + 60).stdout
    time.sleep(0.2)  # the last relays reaped: their time is in their listener's
    used = cpu_seconds(proxy.tree()) - before
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


def start_servers(topo):
    wl.start_nginx(topo, port=HTTP)
    topo.start(topo.outside, ["iperf3", "-s", "-B", OUT_V4, "-p", str(IPERF)])
    wl.wait_until(lambda: topo.listening(topo.outside, IPERF), what="iperf3")


def make_certificate(tmp):
    """A throwaway CA and one ECDSA certificate with every name as a SAN."""
    ca_key, ca_crt = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.crt")
    key, csr, crt = (os.path.join(tmp, "tls." + ext) for ext in ("key", "csr", "crt"))
    ext = os.path.join(tmp, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + name for name in NAMES) + "\n")
    for argv in (["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "1",
                  "-subj", "/CN=whitelist bench CA"],
                 ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", "/CN=" + NAMES[0]],
                 ["x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                  "-CAcreateserial", "-out", crt, "-days", "1", "-extfile", ext]):
        wl.run("openssl", *argv)
    return crt, key


def start_tls_server(topo):
    tmp = topo.tmp
    crt, key = make_certificate(tmp)
    conf = os.path.join(tmp, "nginx-tls.conf")
    with open(conf, "w") as f:
        f.write(NGINX_TLS_CONF.format(tmp=tmp, addr=OUT_V4, names=" ".join(NAMES),
                                      cert=crt, key=key))
    topo.start(topo.outside, ["nginx", "-c", conf, "-e", tmp + "/nginx-tls-error.log"])
    wl.wait_until(lambda: topo.listening(topo.outside, TLS), what="nginx TLS on 443")
    # The client resolves the names to the proxy, as an app behind it would.
    etc = "/etc/netns/" + topo.inside
    os.makedirs(etc, exist_ok=True)
    with open(etc + "/hosts", "w") as f:
        f.write("127.0.0.1 localhost\n%s %s\n" % (PX_IN_V4, " ".join(NAMES)))


def build_udpflood(topo):
    path = os.path.join(topo.tmp, "udpflood")
    wl.run("cc", "-O2", "-std=c11", "-D_GNU_SOURCE", "-o", path,
           os.path.join(HERE, "udpflood.c"))
    return path


def build_connectload(topo):
    path = os.path.join(topo.tmp, "connectload")
    wl.run("cc", "-O2", "-std=c11", "-o", path, os.path.join(HERE, "connectload.c"),
           "-lssl", "-lcrypto")
    return path


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


# ---------------------------------------------------------------- reporting

def spread(values):
    """(max - min) / mean, in percent: how far the rounds disagree."""
    mean = sum(values) / len(values)
    return 100.0 * (max(values) - min(values)) / mean if mean else 0.0


def line(label, values, unit, fmt="%.0f"):
    mean = sum(values) / len(values)
    print("  %-18s %12s %-9s rounds: %-28s spread %4.1f%%" % (
        label, fmt % mean, unit, " ".join(fmt % v for v in values), spread(values)))
    return mean


def ratio_line(label, numerator, denominator, goal=None, lower_better=False):
    """The ratio round by round (each round's figures side by side), and their mean."""
    ratios = [a / b for a, b in zip(numerator, denominator) if b]
    if not ratios:
        return
    mean = sum(ratios) / len(ratios)
    verdict = ""
    if goal is not None:
        met = mean <= goal if lower_better else mean >= goal
        verdict = "  goal %s %.2fx: %s" % ("<=" if lower_better else ">=", goal,
                                         "met" if met else "NOT met")
    print("  ratio %-30s %.2fx  rounds: %s%s" % (label, mean,
                                                 " ".join("%.2f" % r for r in ratios), verdict))
    sys.stdout.flush()


def rounds(topo, kinds, measure, start):
    """results[kind] = [figure per round], proxies in turn within each round."""
    results = {kind: [] for kind in kinds}
    for _ in range(ROUNDS):
        for kind in kinds:
            proxy = Proxy(topo, kind) if kind != "ends" else None
            if proxy:
                start(proxy)
            try:
                results[kind].append(measure(topo, proxy))
            finally:
                if proxy:
                    proxy.stop()
    return results


def run_rates(topo, kinds, title, unit, measure, start, fmt="%.0f"):
    print("%s (higher is better)" % title)
    results = rounds(topo, kinds, measure, start)
    for kind in kinds:
        line(kind, results[kind], unit, fmt)
    return results


def bench_conn(topo, kinds):
    # whitelist-policy: the same proxy with a POLICY rule for its TARGET that names
    # the client by host name, so every accept runs the check (docs/policy.md).
    kinds = kinds[:kinds.index("whitelist") + 1] + ["whitelist-policy"] + \
        kinds[kinds.index("whitelist") + 1:]
    policy = {"POLICY": "%s = %s" % (CLIENT_NAME, OUT_V4)}
    results = run_rates(topo, kinds, "new connections/s: wrk -t2 -c32, Connection: close, "
                        "to nginx /hello (whitelist-policy: POLICY \"%s\")" % policy["POLICY"],
                        "conn/s", measure_conn_rate,
                        lambda proxy: proxy.start("tcp", (HTTP,), **(
                            policy if proxy.kind == "whitelist-policy" else {})))
    ratio_line("whitelist/socat", results["whitelist"], results["socat"], 3.0)
    ratio_line("POLICY/no POLICY", results["whitelist-policy"], results["whitelist"])
    if "haproxy" in results:
        ratio_line("whitelist/haproxy", results["whitelist"], results["haproxy"], 0.6)


def bench_bulk(topo, kinds):
    results = run_rates(topo, kinds, "bulk throughput: iperf3 TCP, one stream", "Gbit/s",
                        measure_throughput, lambda proxy: proxy.start("tcp", (IPERF,)),
                        fmt="%.2f")
    ratio_line("whitelist/socat", results["whitelist"], results["socat"])
    if "haproxy" in results:
        ratio_line("whitelist/haproxy", results["whitelist"], results["haproxy"], 1.5)


def bench_memory(topo, kinds):
    print("memory per idle relayed connection, %d open at once (lower is better), "
          "kB per connection:" % IDLE)
    print("  PSS: the proxy's process tree (smaps_rollup); Slab, KernelStack, PageTables: "
          "/proc/meminfo,\n  median of 7 readings before and after; ends: the same "
          "connections without a proxy\n  (client and server sockets, in every row); "
          "own = kernel - ends; total = PSS + own")
    results = rounds(topo, ["ends"] + kinds, measure_idle_memory,
                     lambda proxy: proxy.start("tcp", (HTTP,), MAX_CONNECTIONS=IDLE * 3))
    ends = [sum(r[f] for f in KERNEL_FIELDS) for r in results["ends"]]
    print("  %-10s %13s %13s %13s %13s %13s %13s %13s" % (
        "", "PSS", "Slab", "KernelStack", "PageTables", "kernel", "own kernel", "total"))
    totals = {}
    for kind in ["ends"] + kinds:
        runs = results[kind]
        kernel = [sum(r[f] for f in KERNEL_FIELDS) for r in runs]
        own = [k - e for k, e in zip(kernel, ends)] if kind != "ends" else kernel
        total = [r["PSS"] + o for r, o in zip(runs, own)]
        totals[kind] = total
        cells = [[r[f] for r in runs] for f in ("PSS",) + KERNEL_FIELDS] + [kernel, own, total]
        if kind == "ends":
            cells = cells[:-2]
        print("  %-10s %s" % (kind, " ".join(
            "%13s" % ("/".join("%.1f" % v for v in cell)) for cell in cells)))
    print("  (each cell: round 1/round 2...; spread of total: %s)" % ", ".join(
        "%s %.0f%%" % (kind, spread(totals[kind])) for kind in kinds))
    for kind in kinds:
        print("  %-10s total %.1f kB per connection (PSS + own kernel), with the ends' "
              "%.1f: %.1f kB" % (kind, sum(totals[kind]) / len(totals[kind]),
                                 sum(ends) / len(ends),
                                 (sum(totals[kind]) + sum(ends)) / len(ends)))
    mean = sum(totals["whitelist"]) / len(totals["whitelist"])
    print("  whitelist goal <= 75 kB (PSS + own kernel): %s" % ("met" if mean <= 75 else
                                                                "NOT met"))
    ratio_line("whitelist/socat (total)", totals["whitelist"], totals["socat"])
    if "haproxy" in totals:
        ratio_line("whitelist/haproxy (total)", totals["whitelist"], totals["haproxy"])


def bench_udp(topo, kinds):
    kinds = [kind for kind in kinds if kind != "haproxy"]  # HAProxy relays no UDP
    print("UDP datagrams delivered, one session, %d-byte datagrams (higher is better):"
          % UDP_SIZE)
    print("  bench/udpflood sends 64 per system call (one GSO buffer, split into datagrams\n"
          "  before the proxy's socket) and receives 64 per recvmmsg, both on CPU %s; the\n"
          "  proxy alone on CPU %s (the sender as SCHED_IDLE: it gets what the sink leaves).\n"
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
        print("  %-18s CPU the proxy (and ksoftirqd) got: %s of its core; offered %s/s; dropped at the proxy's"
              " socket %s/s, at the sink's %s/s" % (
                  "", "/".join("%.0f%%" % (100 * r["busy"]) for r in runs),
                  "/".join("%.0f" % r["sent"] for r in runs),
                  "/".join("%.0f" % r["drops"][0] for r in runs),
                  "/".join("%.0f" % r["drops"][1] for r in runs)))
    ratio_line("whitelist/socat dgram/s", [r["rate"] for r in results["whitelist"]],
               [r["rate"] for r in results["socat"]], 3.0)
    ratio_line("whitelist/socat per cpu-s", [r["per_cpu"] for r in results["whitelist"]],
               [r["per_cpu"] for r in results["socat"]])


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
    print("  connections per CPU-second of the proxy (its processes and reaped children):")
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


WORKLOADS = [("memory", bench_memory), ("conn", bench_conn), ("bulk", bench_bulk),
             ("udp", bench_udp), ("tls", bench_tls), ("connect", bench_connect)]


def main():
    if not wl.is_root():
        print("bench: needs root for network namespaces")
        return 1
    for tool in ("wrk", "iperf3", "socat", "nginx", "openssl", "taskset", "cc"):
        if not shutil.which(tool):
            print("bench: %s is missing (t/deps.sh installs it)" % tool)
            return 1
    kinds = ["socat", "whitelist"] + (["haproxy"] if shutil.which("haproxy") else [])
    started = time.monotonic()
    topo = wl.Topology(hosts=dict({name: OUT_V4 for name in NAMES}, **{CLIENT_NAME: IN_V4}))
    try:
        widen_ports(topo)
        start_servers(topo)
        start_tls_server(topo)
        topo.udpflood = build_udpflood(topo)
        topo.connectload = build_connectload(topo)
        print("bench: %d rounds of %d s, proxies in turn each round: %s; %d cores, "
              "HAProxy with nbthread 1" % (ROUNDS, SECONDS, " ".join(kinds), os.cpu_count()))
        sys.stdout.flush()
        # Memory first: the TIME_WAIT sockets of the rate workloads would be freed
        # during it, a minute later, and read as negative slab.
        for key, bench in WORKLOADS:
            if not ONLY or key in ONLY:
                bench(topo, kinds)
    finally:
        shutil.rmtree("/etc/netns/" + topo.inside, ignore_errors=True)
        topo.close()
    print("bench: %.0f s" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
