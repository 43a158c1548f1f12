"""make bench's proxies under test and the servers behind them: their
configurations, how each is started in the proxy namespace inside a cgroup
of its own (cpuacct: the CPU of its whole process tree), and stopped."""
import glob
import os
import re
import resource
import signal
import subprocess

import wl
from wl import OUT_V4, PX_IN_V4

HERE = os.path.dirname(os.path.abspath(__file__))
HTTP, IPERF, TLS, UDP, CONNECT, H2, IDLE_PORT = 80, 5201, 443, 5300, 3128, 8443, 7000
NAMES = ("a.bench.test", "b.bench.test")
CGROUP_ROOT = "/sys/fs/cgroup/cpuacct"
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

# HAProxy: every port a workload uses, forwarded to the same port of the server.
HAPROXY_CONF = """global
    nbthread {threads}
    maxconn {maxconn}
defaults
    mode tcp
    maxconn {maxconn}
    timeout connect 5s
    timeout client 1h
    timeout server 1h
listen http
    bind :::80 v4v6
    server target {target}:80
listen iperf
    bind :::5201 v4v6
    server target {target}:5201
listen h2
    bind :::8443 v4v6
    server target {target}:8443
listen idle
    bind :::7000 v4v6
    server target {target}:7000
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

# nginx's stream module as a plain forwarder (Debian's libnginx-mod-stream).
NGINX_STREAM_CONF = """
load_module {module};
daemon off;
worker_processes {workers};
worker_rlimit_nofile 65536;
pid {tmp}/nginx-stream.pid;
error_log {tmp}/nginx-stream-error.log;
events {{ worker_connections 30000; }}
stream {{
{servers}
}}
"""
NGINX_STREAM_SERVER = """    server {{ listen {port}{udp}; proxy_pass {target}:{port}; proxy_timeout 1h; }}"""

NGINX_TLS_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx-tls.pid;
error_log {tmp}/nginx-tls-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body-tls;
    keepalive_requests 1000000;
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
    server {{
        listen {addr}:8443 ssl http2 backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        location / {{ return 200 "ok\\n"; }}
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


def peer_proxy_command(tmp, kind):
    """squid or tinyproxy in the foreground, configured to allow NAMES on 443 only."""
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


def haproxy_maxconn():
    """HAProxy wants two descriptors a connection, under the hard limit it
    inherits (which it cannot raise without CAP_SYS_RESOURCE)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return min(30000, (hard - 200) // 2) if hard != resource.RLIM_INFINITY else 30000


def haproxy_command(tmp, threads):
    conf = os.path.join(tmp, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write(HAPROXY_CONF.format(target=OUT_V4, threads=threads, maxconn=haproxy_maxconn()))
    return ["haproxy", "-f", conf, "-db"]


def nginx_stream_command(tmp, mode, ports):
    """nginx stream forwarding each port; 2 workers for TCP, 1 for UDP (its
    workers share the UDP socket, so a second would split the one session)."""
    udp = " udp" if mode == "udp" else ""
    servers = "\n".join(NGINX_STREAM_SERVER.format(port=port, udp=udp, target=OUT_V4)
                        for port in ports)
    conf = os.path.join(tmp, "nginx-stream.conf")
    with open(conf, "w") as f:
        f.write(NGINX_STREAM_CONF.format(module=NGINX_STREAM_MODULE, tmp=tmp, servers=servers,
                                         workers=1 if udp else 2))
    return ["nginx", "-c", conf, "-e", os.path.join(tmp, "nginx-stream-error.log")]


def socat_commands(mode, port, children=100):
    """The old image's command line (proxy.py) for one port."""
    if mode == "udp":
        return ["socat", "udp-listen:%d,fork,reuseaddr,max-children=%d" % (port, children),
                "udp-connect:%s:%d" % (OUT_V4, port)]
    return ["socat", "tcp-listen:%d,fork,reuseaddr,max-children=%d" % (port, children),
            "tcp-connect:%s:%d" % (OUT_V4, port)]


class CpuGroup:
    """A cgroup v1 cpuacct group, /sys/fs/cgroup/cpuacct/wlbench-KIND: a process
    joins it between fork and exec (preexec_fn), before `ip netns exec`, which
    mounts a /sys of its own; its children are forked into it."""
    made = set()  # every group made, removed at the end whatever happens

    def __init__(self, kind):
        self.path = os.path.join(CGROUP_ROOT, "wlbench-" + kind)
        os.makedirs(self.path, exist_ok=True)
        CpuGroup.made.add(self.path)

    def join(self):
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def usage_us(self):
        return int(wl.read(os.path.join(self.path, "cpuacct.usage"))) / 1000.0

    def pids(self):
        return [int(pid) for pid in wl.read(os.path.join(self.path, "cgroup.procs")).split()]

    @staticmethod
    def remove(path):
        """Ends what is left in the group (ours: only the proxy's tree joins it)
        and removes it."""
        def empty():
            for pid in wl.read(os.path.join(path, "cgroup.procs")).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.rmdir(path)
                return True
            except FileNotFoundError:
                return True
            except OSError:
                return False
        wl.wait_until(empty, timeout=20, what="cgroup %s removed" % path)
        CpuGroup.made.discard(path)

    @classmethod
    def remove_all(cls):
        for path in list(cls.made):
            try:
                cls.remove(path)
            except Exception as e:  # noqa: BLE001: the others still go
                print("bench: %s" % e)


class Proxy:
    """One proxy under test, started for one measurement and stopped after it,
    its process tree in a cpuacct group. kind: socat, whitelist,
    whitelist-policy, whitelist-routed, whitelist-connect, haproxy (nbthread
    1), haproxy-2t (nbthread 2), nginx (stream, 2 workers), squid, tinyproxy."""

    def __init__(self, topo, kind):
        self.topo, self.kind, self.procs, self.group = topo, kind, [], None

    def _start(self, argv, **kwargs):
        return self.topo.start(self.topo.proxy, argv, preexec_fn=self.group.join, **kwargs)

    def _commands(self, mode, ports, env):
        tmp = self.topo.tmp
        if self.kind in ("squid", "tinyproxy"):
            return [peer_proxy_command(tmp, self.kind)]
        if self.kind == "socat":
            return [socat_commands(mode, port, int(env.get("MAX_CONNECTIONS", 100)))
                    for port in ports]
        if self.kind == "nginx":
            return [nginx_stream_command(tmp, mode, ports)]
        return [haproxy_command(tmp, 2 if self.kind == "haproxy-2t" else 1)]

    def start(self, mode="tcp", ports=(HTTP,), pin=None, **env):
        wrap = ["taskset", "-c", pin] if pin else []
        self.group = CpuGroup(self.kind)
        if self.kind.startswith("whitelist"):
            # topo.start_proxy, with the cgroup joined before the namespace
            variables = self.topo.proxy_env(PORT=" ".join(map(str, ports)), MODE=mode, **env)
            proc = self._start(wrap + [wl.WHITELIST], env=variables,
                               log=os.path.join(self.topo.tmp, "whitelist-%d.log" %
                                                len(self.topo.procs)))
            proc.env = variables
            self.procs = [proc]
        else:
            self.procs = [self._start(wrap + argv) for argv in self._commands(mode, ports, env)]
        self._wait_listening(mode, list(ports) + (
            [int(env["CONNECT_PORT"])] if "CONNECT_PORT" in env else []))

    def _wait_listening(self, mode, ports):
        proto = "tcp" if mode == "tcp" else "udp"
        for port in ports:
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
        if self.group:
            CpuGroup.remove(self.group.path)
            self.group = None
        if self.kind == "squid":
            # Killed, squid leaves its shared-memory segments in /dev/shm.
            for path in glob.glob("/dev/shm/squid-cf__*"):
                os.unlink(path)

    def tree(self):
        """The PIDs of the proxy's processes: its cgroup's."""
        return self.group.pids()

    def usage_us(self):
        """CPU time of the whole tree so far, the exited processes' included."""
        return self.group.usage_us()


# ---------------------------------------------------------------- servers

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
    """nginx over TLS: 443 (HTTP/1.1, full handshakes, both names) and 8443
    (HTTP/2, kept alive for a million requests: h2load's connections last)."""
    tmp = topo.tmp
    crt, key = make_certificate(tmp)
    conf = os.path.join(tmp, "nginx-tls.conf")
    with open(conf, "w") as f:
        f.write(NGINX_TLS_CONF.format(tmp=tmp, addr=OUT_V4, names=" ".join(NAMES),
                                      cert=crt, key=key))
    topo.start(topo.outside, ["nginx", "-c", conf, "-e", tmp + "/nginx-tls-error.log"])
    for port in (TLS, H2):
        wl.wait_until(lambda: topo.listening(topo.outside, port), what="nginx TLS on %d" % port)
    # The client resolves the names to the proxy, as an app behind it would.
    etc = "/etc/netns/" + topo.inside
    os.makedirs(etc, exist_ok=True)
    with open(etc + "/hosts", "w") as f:
        f.write("127.0.0.1 localhost\n%s %s\n" % (PX_IN_V4, " ".join(NAMES)))


def build(topo, source, *flags):
    """A bench helper program from bench/SOURCE.c, built into the bench's tmp."""
    path = os.path.join(topo.tmp, source)
    wl.run("cc", "-O2", "-std=c11", "-D_GNU_SOURCE", "-o", path,
           os.path.join(HERE, source + ".c"), *flags)
    return path


def start_spinners(count=2):
    """Busy loops in the root namespace: the neighbours of a busy host."""
    return [subprocess.Popen(["python3", "-c", "while True: pass"]) for _ in range(count)]


def stop_spinners(spinners):
    for proc in spinners:
        proc.kill()
        proc.wait()
