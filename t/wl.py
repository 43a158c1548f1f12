"""End-to-end test kit: network namespaces, real peers, the real binaries.

The topology mirrors a Docker deployment:

    inside (client)  --  proxy (whitelist)  --  outside (nginx, dnsmasq, ...)
    198.18.1.2            198.18.1.1 / 198.18.2.1   198.18.2.2 (+ .3 spare)
    2001:db8:1::2         2001:db8:1::1 / 2001:db8:2::1   2001:db8:2::2

"inside" has no route beyond its own subnet, like an `internal: true` network:
the proxy is its only way out. Every process is started here, tracked by PID
and ended by PID; every namespace is deleted, on every path (atexit too).
"""

import atexit
import ctypes
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHITELIST = os.path.join(TOP, "whitelist")
HEALTHCHECK = os.path.join(TOP, "healthcheck")

IN_V4, PX_IN_V4, PX_OUT_V4, OUT_V4, OUT2_V4 = (
    "198.18.1.2", "198.18.1.1", "198.18.2.1", "198.18.2.2", "198.18.2.3")
IN_V6, PX_IN_V6, PX_OUT_V6, OUT_V6 = (
    "2001:db8:1::2", "2001:db8:1::1", "2001:db8:2::1", "2001:db8:2::2")

# The image's ENV: tecnativa/whitelist's, plus what we add: UDP_TIMEOUT,
# LOG_FORMAT, ALLOW_FROM, METRICS_PORT, RESOLVE_INTERVAL (new variables; empty = off) and
# the healthcheck timeouts the old healthcheck had built in. t/test_container.py
# compares it with what the engine reads from the Dockerfile; t/test_image.py
# runs the musl build with it.
IMAGE_ENV = {
    "NAMESERVERS": "208.67.222.222 8.8.8.8 208.67.220.220 8.8.4.4",
    "PORT": "80 443",
    "PRE_RESOLVE": "0",
    "MODE": "tcp",
    "VERBOSE": "0",
    "LOG_FORMAT": "text",
    "MAX_CONNECTIONS": "100",
    "UDP_ANSWERS": "1",
    "UDP_TIMEOUT": "30",
    "HTTP_HEALTHCHECK": "0",
    "HTTP_HEALTHCHECK_URL": "http://$TARGET/",
    "HTTP_HEALTHCHECK_TIMEOUT_MS": "2000",
    "SMTP_HEALTHCHECK": "0",
    "SMTP_HEALTHCHECK_URL": "smtp://$TARGET/",
    "SMTP_HEALTHCHECK_COMMAND": "HELP",
    "SMTP_HEALTHCHECK_TIMEOUT_MS": "2000",
    "ALLOW_FROM": "",
    "METRICS_PORT": "",
    "RESOLVE_INTERVAL": "0",
    "ROUTE_TIMEOUT": "10",
    "ROUTE_ALLOW_PRIVATE": "0",
}

CLONE_NEWNET = 0x40000000
# Under CI (CI set and not empty) a test that cannot run here fails instead of
# skipping: make check installs every program the tests need (t/deps.sh).
CI = bool(os.environ.get("CI"))
NEED_ROOT = "needs root for network namespaces"
_libc = ctypes.CDLL(None, use_errno=True)
_live_topologies = []


def is_root():
    return os.geteuid() == 0


def required():
    """Under CI (CI set, as CI sets it) or E2E_REQUIRE=1 no test may skip."""
    return CI or os.environ.get("E2E_REQUIRE") == "1"


def cannot_run(reason):
    """A test that cannot run here: skipped with the reason, or failed when required."""
    if required():
        raise AssertionError("cannot run, and CI or E2E_REQUIRE=1 requires it: " + reason)
    raise unittest.SkipTest(reason)


NOT_APPLICABLE = "n/a: "


# make asan: the sanitizers' runtime needs descriptors, processes and address space of its own.
SANITIZED = "ASAN_OPTIONS" in os.environ or "UBSAN_OPTIONS" in os.environ


def not_under_sanitizers(reason):
    """Decorator: under make asan, a skip that is no gap (CI accepts it); else nothing."""
    if SANITIZED:
        return unittest.skip(NOT_APPLICABLE + reason + ": not under a sanitizer")
    return lambda test: test


def private_dirty_kb(pid, name):
    """Private_Dirty of pid's mapping named name in /proc/PID/smaps (kB)."""
    current, total = None, 0
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                fields = line.split()
                current = fields[5] if len(fields) > 5 else ""
            elif line.startswith("Private_Dirty:") and current == name:
                total += int(line.split()[1])
    return total


def bytes_read(pid):
    """rchar of /proc/PID/io: the bytes pid read with read(2) and its kin (not recv)."""
    with open("/proc/%d/io" % pid) as f:
        return int(re.search(r"^rchar: (\d+)", f.read(), re.M).group(1))


def mapping_regions(pid, size):
    """The size-aligned regions pid's mappings touch, but for its heap, the
    vDSO's and the kernel's (vsyscall) pages."""
    regions = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            if len(fields) > 5 and fields[5] in ("[heap]", "[vsyscall]", "[vdso]", "[vvar]",
                                                 "[vvar_vclock]"):
                continue
            start, end = (int(value, 16) for value in fields[0].split("-"))
            regions.update(range(start // size * size, end, size))
    return regions


def need_program(program, package):
    """cannot_run unless program is on PATH; package is the Debian one (t/deps.sh)."""
    if not shutil.which(program):
        cannot_run("%s is not installed (apt-get install %s)" % (program, package))


def need_root(cls):
    """Class decorator: namespaces need root; say so plainly when not."""
    original = cls.__dict__.get("setUpClass")

    def setUpClass(klass):
        if not is_root():
            cannot_run(NEED_ROOT)
        if original:
            original.__func__(klass)
        else:
            super(cls, klass).setUpClass()

    cls.setUpClass = classmethod(setUpClass)
    return cls


class CommandError(subprocess.CalledProcessError):
    """A command that failed, with what it said (a missing program says so here)."""

    def __str__(self):
        return "%s\n%s" % (super().__str__(), (self.stderr or self.stdout or "").strip())


def run(*args, check=True, **kwargs):
    result = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)
    if check and result.returncode != 0:
        raise CommandError(result.returncode, result.args, result.stdout, result.stderr)
    return result


def wait_until(predicate, timeout=5.0, interval=0.02, what="condition"):
    """Polls predicate until it is true; fails the test with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Netns:
    """Enter a namespace for the calling thread: sockets made inside stay in it."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + self.name)
        finally:
            os.close(target)
        return self

    def __exit__(self, *exc):
        _libc.setns(self.home, CLONE_NEWNET)
        os.close(self.home)


def listening_ports(port_variable):
    """The ports a PORT value listens on, to wait for: "8443:443" listens on 8443,
    "20000-20100" on its first and last port, "*" on a port of the kernel's choosing
    (none to name here)."""
    ports = []
    for entry in port_variable.split():
        if entry == "*":
            continue
        if "-" in entry:
            first, last = entry.split("-")
            ports += [int(first), int(last)]
        else:
            ports.append(int(entry.split(":")[0]))
    return ports


class Topology:
    """Three namespaces joined by two veth pairs; see the module comment."""

    def __init__(self, hosts=None, nameserver=OUT_V4):
        tag = "%d%s" % (os.getpid() % 100000, os.urandom(2).hex())
        self.inside, self.proxy, self.outside = ("wl%si" % tag, "wl%sp" % tag, "wl%so" % tag)
        self.tmp = tempfile.mkdtemp(prefix="wl-e2e-")
        os.chmod(self.tmp, 0o1777)  # like /tmp: the proxy writes here after RUN_AS
        self.procs = []
        _live_topologies.append(self)
        try:
            self._build(tag, hosts or {}, nameserver)
        except BaseException:
            self.close()
            raise

    def _build(self, tag, hosts, nameserver):
        for ns in (self.inside, self.proxy, self.outside):
            run("ip", "netns", "add", ns)
            self.ip(ns, "link", "set", "lo", "up")
        self._link("wl%sa" % tag, self.inside, "wl%sb" % tag, self.proxy)
        self._link("wl%sc" % tag, self.proxy, "wl%sd" % tag, self.outside)
        self._addr(self.inside, "wl%sa" % tag, IN_V4, IN_V6)
        self._addr(self.proxy, "wl%sb" % tag, PX_IN_V4, PX_IN_V6)
        self._addr(self.proxy, "wl%sc" % tag, PX_OUT_V4, PX_OUT_V6)
        self._addr(self.outside, "wl%sd" % tag, OUT_V4, OUT_V6)
        self.ip(self.outside, "addr", "add", OUT2_V4 + "/24", "dev", "wl%sd" % tag)
        self.out_dev = "wl%sd" % tag
        self.in_dev, self.px_in_dev = "wl%sa" % tag, "wl%sb" % tag
        # The proxy's own resolver and hosts file, as Docker gives a container.
        etc = "/etc/netns/" + self.proxy
        os.makedirs(etc, exist_ok=True)
        with open(etc + "/resolv.conf", "w") as f:
            f.write("nameserver %s\noptions timeout:1 attempts:1\n" % nameserver)
        with open(etc + "/hosts", "w") as f:
            f.write("127.0.0.1 localhost\n::1 localhost\n")
            for name, addr in hosts.items():
                f.write("%s %s\n" % (addr, name))

    def ip(self, ns, *args):
        return run("ip", "-n", ns, *args)

    def route_out(self):
        """Gives the proxy a default route (v4 and v6) through the outside side, as an
        engine gives a container on a normal network; "inside" has none, like an
        internal network. Routed mode's destination guard lets wildcards' names
        reach the network of the way out, and no other network of the proxy's."""
        self.ip(self.proxy, "route", "add", "default", "via", OUT_V4)
        self.ip(self.proxy, "-6", "route", "add", "default", "via", OUT_V6)

    def _link(self, a, ns_a, b, ns_b):
        run("ip", "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b,
            "netns", ns_b)
        self.ip(ns_a, "link", "set", a, "up")
        self.ip(ns_b, "link", "set", b, "up")

    def _addr(self, ns, dev, v4, v6):
        self.ip(ns, "addr", "add", v4 + "/24", "dev", dev)
        self.ip(ns, "-6", "addr", "add", v6 + "/64", "dev", dev, "nodad")

    # processes

    def start(self, ns, argv, env=None, log=None, **kwargs):
        """Starts argv in namespace ns; its output goes to a log file in tmp."""
        log = log or os.path.join(self.tmp, "%s-%d.log" % (os.path.basename(argv[0]),
                                                           len(self.procs)))
        out = open(log, "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", ns] + list(argv), env=env,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, **kwargs)
        out.close()
        proc.log = log
        self.procs.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        """Ends one process by PID; returns its exit status."""
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def proxy_env(self, **variables):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TARGET": OUT_V4,
               "TMPDIR": self.tmp}
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):  # make asan
            if name in os.environ:
                env[name] = os.environ[name]
        env.update({k: str(v) for k, v in variables.items()})
        return env

    def start_proxy(self, wait_ports=True, wrapper=(), **variables):
        """Starts whitelist in the proxy namespace and waits until it listens.
        wrapper: a command that runs it (e.g. t/noipv6)."""
        env = self.proxy_env(**variables)
        proc = self.start(self.proxy, list(wrapper) + [WHITELIST], env=env,
                          log=os.path.join(self.tmp, "whitelist-%d.log" % len(self.procs)))
        proc.env = env
        if wait_ports:
            ports = listening_ports(env.get("PORT", "80 443"))
            for port in ports:
                if env.get("MODE", "tcp") == "tcp":
                    wait_until(lambda: self.listening(self.proxy, port) or proc.poll() is not None,
                               what="whitelist listening on %d" % port)
            if proc.poll() is not None:
                raise AssertionError("whitelist exited %s:\n%s" % (proc.returncode,
                                                                   read(proc.log)))
        return proc

    def listening(self, ns, port, proto="tcp"):
        flag = "-ltnH" if proto == "tcp" else "-lunH"
        out = run("ip", "netns", "exec", ns, "ss", flag, "sport = :%d" % port).stdout
        return bool(out.strip())

    def connect(self, port, host=PX_IN_V4, timeout=5.0):
        """A TCP client socket in the inside namespace, connected to the proxy."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with Netns(self.inside):
            sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect((host, port))
        return sock

    def socket_in(self, ns, family=socket.AF_INET, kind=socket.SOCK_STREAM):
        with Netns(ns):
            return socket.socket(family, kind)

    def hosts_file_size(self):
        """The size of the proxy's /etc/hosts (what a lookup through libc reads)."""
        return os.path.getsize("/etc/netns/%s/hosts" % self.proxy)

    def children(self, pid):
        """PIDs whose parent is pid."""
        kids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == pid:
                    kids.append(int(entry))
        return kids

    def close(self):
        for proc in reversed(self.procs):
            # nginx must end its workers itself; a proxy in its grace period need not wait.
            # (A proxy is started by start_proxy, or by start with WHITELIST last, through
            # exec-ing wrappers: ip netns exec, prlimit, setpriv keep its pid.)
            proxy = proc.args[-1] == WHITELIST or getattr(proc, "env", None) is not None
            self.stop(proc, signal.SIGKILL if proxy else signal.SIGTERM, timeout=2)
            if proxy:  # killed outright, it leaves its state file: not ours to keep
                for path in state_files(proc.pid):
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
        self.procs = []
        for ns in (self.inside, self.proxy, self.outside):
            # Whatever is still inside (nginx workers, orphaned relays) ends by PID too.
            for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            run("ip", "netns", "del", ns, check=False)
        shutil.rmtree("/etc/netns/" + self.proxy, ignore_errors=True)
        if os.environ.get("WL_KEEP_LOGS") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self in _live_topologies:
            _live_topologies.remove(self)


class TopologyCase(unittest.TestCase):
    """A test class with its topology: one for the class, or a fresh one per test
    (fresh_topology). Subclasses set hosts and nameserver as Topology takes them,
    and start their peers in start_peers(topo). The topology is closed whatever
    happens, by the class or test cleanups."""

    hosts = None
    nameserver = OUT_V4
    fresh_topology = False

    @classmethod
    def setUpClass(cls):
        if not is_root():
            cannot_run(NEED_ROOT)
        if not cls.fresh_topology:
            cls.topo = Topology(hosts=cls.hosts, nameserver=cls.nameserver)
            cls.addClassCleanup(cls.topo.close)
            cls.start_peers(cls.topo)

    def setUp(self):
        if self.fresh_topology:
            self.topo = Topology(hosts=self.hosts, nameserver=self.nameserver)
            self.addCleanup(self.topo.close)
            self.start_peers(self.topo)

    @classmethod
    def start_peers(cls, topo):
        """Starts the class's peers (nginx, dnsmasq...) in a new topology."""


@atexit.register
def _close_all():
    for topo in list(_live_topologies):
        topo.close()


def _exit_on_signal(signo, frame):
    raise SystemExit(128 + signo)  # so atexit runs: a `timeout` or Ctrl-C leaves nothing


for _signo in (signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_signo) is signal.SIG_DFL:
        signal.signal(_signo, _exit_on_signal)


def state_files(pid, directory="/dev/shm"):
    """The state files a proxy whose main pid is pid published (whitelist-PID-XXXXXX.state)."""
    return glob.glob(os.path.join(directory, "whitelist-%d-*.state" % pid))


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    keepalive_requests 100000;
    server {{
        listen {addr}:{port} reuseport backlog=4096;
        {listen6}
        root {root};
        location /hello {{ return 200 "hello from {addr}\\n"; }}
        location /slow/ {{ limit_rate 1m; rewrite ^/slow/(.*)$ /$1 break; }}
    }}
}}
"""


def start_nginx(topo, port=80, addr=OUT_V4, addr6=OUT_V6, files=None):
    """nginx in the outside namespace serving /hello and the given files."""
    tmp = tempfile.mkdtemp(prefix="nginx-", dir=topo.tmp)
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    for path in (tmp, root):
        os.chmod(path, 0o755)  # nginx's workers run as nobody
    for name, data in (files or {}).items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        listen6 = "listen [%s]:%d;" % (addr6, port) if addr6 else ""
        f.write(NGINX_CONF.format(tmp=tmp, addr=addr, listen6=listen6, port=port, root=root))
    proc = topo.start(topo.outside, ["nginx", "-c", conf, "-e", tmp + "/nginx-error.log"])
    wait_until(lambda: "%s:%d" % (addr, port) in run(
        "ip", "netns", "exec", topo.outside, "ss", "-ltnH").stdout, what="nginx on %d" % port)
    return proc


def start_dnsmasq(topo, hosts_text, extra=()):
    """dnsmasq answering only from a hosts file (re-read on SIGHUP), UDP and TCP."""
    hosts = os.path.join(topo.tmp, "dns-hosts-%d" % len(topo.procs))
    with open(hosts, "w") as f:
        f.write(hosts_text)
    proc = topo.start(topo.outside, ["dnsmasq", "--keep-in-foreground", "--no-resolv",
                                     "--no-hosts", "--addn-hosts=" + hosts, "--user=root",
                                     "--listen-address=" + OUT_V4, "--bind-interfaces",
                                     "--no-dhcp-interface=*", "--pid-file=",
                                     "--log-facility=-", "--cache-size=0"] + list(extra))
    proc.hosts = hosts
    wait_until(lambda: topo.listening(topo.outside, 53, "udp"), what="dnsmasq on 53")
    return proc


def http_get(topo, path="/hello", port=80, host=PX_IN_V4, timeout=5.0, headers=""):
    """One HTTP/1.0 request through the proxy; returns (status line, body bytes)."""
    sock = topo.connect(port, host, timeout)
    try:
        sock.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n%s\r\n" % (path, headers)).encode())
        data = recv_all(sock)
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(errors="replace"), body


def recv_all(sock):
    chunks = []
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def listener_of(topo, proxy, port):
    """The listener process of a port: the proxy's child named whitelist:PORT (it names
    itself once it runs: waited for)."""
    def find():
        for pid in topo.children(proxy.pid):
            if read("/proc/%d/comm" % pid).strip() == "whitelist:%d" % port:
                return pid
        return None
    return wait_until(find, what="the listener of port %d" % port)


def relay_of(topo, proxy, port):
    """A child of the port's listener (a relay, or a UDP session), waited for."""
    listener = listener_of(topo, proxy, port)
    return wait_until(lambda: topo.children(listener), what="a child of port %d" % port)[0]


def established(topo, ns, port):
    """TCP connections established in namespace ns with local port `port`."""
    out = run("ip", "netns", "exec", ns, "ss", "-tnH", "state", "established",
              "( sport = :%d )" % port).stdout
    return len(out.strip().splitlines())


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def zombies_of(pid, topo):
    count = 0
    for kid in topo.children(pid):
        try:
            with open("/proc/%d/stat" % kid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    count += 1
        except OSError:
            pass
    return count


SMTPD_SCRIPT = """
import asyncore, smtpd, sys
class Channel(smtpd.SMTPChannel):
    if sys.argv[3] == "0":
        smtp_HELP = None  # a server without HELP answers 500, like some real ones
class Server(smtpd.SMTPServer):
    channel_class = Channel
    def process_message(self, *args, **kwargs):
        return None
Server((sys.argv[1], int(sys.argv[2])), None)
asyncore.loop()
"""


def start_smtpd(topo, port=25, addr=OUT_V4, help_command=True):
    """Python's smtpd in the outside namespace; help_command=False: HELP is unknown (500)."""
    proc = topo.start(topo.outside, ["python3", "-W", "ignore", "-c", SMTPD_SCRIPT, addr,
                                     str(port), "1" if help_command else "0"])
    wait_until(lambda: "%s:%d" % (addr, port) in run(
        "ip", "netns", "exec", topo.outside, "ss", "-ltnH").stdout or proc.poll() is not None,
        what="smtpd on %d" % port)
    if proc.poll() is not None:
        raise AssertionError("smtpd exited:\n" + read(proc.log))
    return proc


def silent_listener(topo, port, addr=OUT_V4):
    """A TCP port in the outside namespace that completes handshakes and never answers:
    it listens but never accepts. Close the returned socket to end it."""
    sock = topo.socket_in(topo.outside)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((addr, port))
    sock.listen(64)
    return sock


def scrape(topo, port, path="/metrics", host=PX_IN_V4, timeout=5.0):
    """GET path from the proxy's METRICS_PORT, from the inside namespace.
    Returns (status line, headers dict with lower-case names, body text)."""
    sock = topo.connect(port, host, timeout)
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n" % path).encode())
        data = recv_all(sock)
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict((name.strip().lower(), value.strip()) for name, _, value in
                   (line.partition(":") for line in lines[1:]))
    return lines[0], headers, body.decode()


def parse_metrics(text):
    """Prometheus text format into {(name, ((label, value), ...)): number}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        if not match:
            raise AssertionError("not a sample line: %r" % line)
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or "")))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def metrics(topo, port, host=PX_IN_V4):
    """The proxy's samples; metric(samples, name, **labels) picks one."""
    status, _, body = scrape(topo, port, host=host)
    if status != "HTTP/1.0 200 OK":
        raise AssertionError("scrape: %s" % status)
    return parse_metrics(body)


def metric(samples, name, **labels):
    key = (name, tuple(sorted((k, str(v)) for k, v in labels.items())))
    if key not in samples:
        raise AssertionError("no sample %s%r among %r" % (name, labels, sorted(samples)))
    return samples[key]



def make_test_ca(topo, names):
    """A throwaway CA and one certificate for all names (SANs), made with openssl.
    Returns (ca_path, cert_path, key_path) in the topology's temp dir."""
    tmp = tempfile.mkdtemp(prefix="tls-", dir=topo.tmp)
    os.chmod(tmp, 0o755)
    ca_key, ca, key, csr, cert = (os.path.join(tmp, name) for name in
                                  ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = os.path.join(tmp, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % ",".join("DNS:" + name for name in names))
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=whitelist test CA", "-keyout", ca_key, "-out", ca)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + names[0],
        "-keyout", key, "-out", csr)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-extfile", ext, "-out", cert)
    for path in (key, cert):
        os.chmod(path, 0o644)  # nginx's workers run as nobody
    return ca, cert, key


TLS_NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    server {{
        listen {addr}:80;
        listen {addr}:443 ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ return 200 "$host at $server_addr\\n"; }}
        {locations}
    }}
}}
"""


def start_tls_nginx(topo, addr, cert, key, locations=""):
    """nginx at addr answering "HOST at ADDR" on 80 (HTTP) and 443 (TLS, any name of cert),
    and the given extra location blocks. Its access log is proc.access_log: a request that
    reached it is a line there."""
    tmp = tempfile.mkdtemp(prefix="nginx-tls-", dir=topo.tmp)
    os.chmod(tmp, 0o755)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(TLS_NGINX_CONF.format(tmp=tmp, addr=addr, cert=cert, key=key,
                                      locations=locations))
    proc = topo.start(topo.outside, ["nginx", "-c", conf, "-e", tmp + "/nginx-error.log"])
    wait_until(lambda: "%s:443" % addr in run("ip", "netns", "exec", topo.outside, "ss",
                                               "-ltnH").stdout, what="nginx TLS on %s" % addr)
    proc.access_log = os.path.join(tmp, "access.log")
    return proc
