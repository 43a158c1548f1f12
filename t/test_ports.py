"""PORT's entries end to end: pairs (L:T) in TCP, UDP and routed mode,
ranges (A-B: one listener process, all its sockets, one MAX_CONNECTIONS
count; TCP and UDP), passive FTP through a range (vsftpd behind the proxy,
curl and Python's ftplib in front), a range of 1,000 ports (start time,
the listener's memory, its first, middle and last port), and PORT=* (every
TCP port, through an nftables redirect in the proxy's namespace)."""
import ftplib
import hashlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest

import wl
from wl import IN_V4, OUT_V4, OUT_V6, PX_IN_V4, PX_IN_V6

UDP_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_peer.py")

NGINX_PORTS_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    server {{
        {listens}
        location / {{ return 200 "port $server_port host $host\\n"; }}
    }}
}}
"""


def start_nginx_ports(topo, ports, addr=OUT_V4):
    """nginx in the outside namespace answering "port P host H" on each of ports."""
    wl.need_program("nginx", "nginx")
    tmp = os.path.join(topo.tmp, "nginx-ports-%d" % len(topo.procs))
    os.makedirs(os.path.join(tmp, "body"))
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_PORTS_CONF.format(
            tmp=tmp, listens="\n        ".join("listen %s:%d;" % (addr, p) for p in ports)))
    proc = topo.start(topo.outside, ["nginx", "-c", conf, "-e", tmp + "/error.log"])
    for port in ports:
        wl.wait_until(lambda: topo.listening(topo.outside, port) or proc.poll() is not None,
                      what="nginx on %d" % port)
    if proc.poll() is not None:
        raise AssertionError("nginx exited:\n" + wl.read(os.path.join(tmp, "error.log")))
    return proc


def get(topo, port, host=PX_IN_V4, name="x", timeout=5.0):
    """One HTTP request through the proxy; the answer's body."""
    sock = topo.connect(port, host=host, timeout=timeout)
    try:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: " + name.encode() + b"\r\n\r\n")
        answer = wl.recv_all(sock)
    finally:
        sock.close()
    return answer.split(b"\r\n\r\n", 1)[-1].decode()


def udp_ask(topo, port, data, host=PX_IN_V4, timeout=3.0):
    """One datagram to the proxy from the inside namespace; the answer."""
    sock = topo.socket_in(topo.inside, kind=socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.sendto(data, (host, port))
        return sock.recvfrom(65535)[0]
    finally:
        sock.close()


def start_udp_echo(topo, port):
    proc = topo.start(topo.outside, ["python3", UDP_PEER, "echo", OUT_V4, str(port),
                                     os.path.join(topo.tmp, "udp-%d.log" % port)])
    wl.wait_until(lambda: topo.listening(topo.outside, port, "udp"), what="udp echo %d" % port)
    return proc


def listeners(topo, proxy):
    """The proxy's listener processes: {comm: pid}."""
    out = {}
    for pid in topo.children(proxy.pid):
        comm = wl.read("/proc/%d/comm" % pid).strip()
        if comm.startswith("whitelist:"):
            out[comm] = pid
    return out


def healthcheck(topo, env):
    return subprocess.run(["ip", "netns", "exec", topo.proxy, wl.HEALTHCHECK], env=env,
                          capture_output=True, text=True, timeout=30)


@wl.need_root
class TestPairs(wl.TopologyCase):
    """L:T: listen on L, forward to T, in TCP, UDP and routed mode."""

    fresh_topology = True
    hosts = {"a.example": OUT_V4, "b.example": OUT_V4}

    def test_tcp_pair_listens_on_l_and_reaches_t(self):
        start_nginx_ports(self.topo, [80, 443])
        proxy = self.topo.start_proxy(PORT="8080:80 8443:443 443", METRICS_PORT=9100)
        self.assertEqual(get(self.topo, 8080), "port 80 host x\n")
        self.assertEqual(get(self.topo, 8443), "port 443 host x\n")
        self.assertEqual(get(self.topo, 443), "port 443 host x\n")
        # Nothing listens on the target side's ports but those asked for.
        self.assertFalse(self.topo.listening(self.topo.proxy, 80))
        # One listener per entry, named as written; metrics name the entry as written.
        self.assertEqual(sorted(listeners(self.topo, proxy)),
                         ["whitelist:443", "whitelist:8080:", "whitelist:8443:"])
        samples = wl.metrics(self.topo, 9100)
        self.assertEqual(wl.metric(samples, "whitelist_connections_total", port="8080:80"), 1)
        self.assertEqual(wl.metric(samples, "whitelist_connections_total", port="8443:443"), 1)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("8080:80 8443:443 443", result.stdout)

    def test_udp_pair_listens_on_l_and_reaches_t(self):
        start_udp_echo(self.topo, 5353)
        proxy = self.topo.start_proxy(PORT="5000:5353", MODE="udp", wait_ports=False)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5000, "udp"),
                      what="the proxy on udp 5000")
        self.assertEqual(udp_ask(self.topo, 5000, b"ping through a pair"),
                         b"ping through a pair")
        self.assertFalse(self.topo.listening(self.topo.proxy, 5353, "udp"))
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_routed_pair_connects_to_t(self):
        start_nginx_ports(self.topo, [80])
        self.topo.start_proxy(PORT="8080:80", TARGET="a.example b.example")
        self.assertEqual(get(self.topo, 8080, name="b.example"), "port 80 host b.example\n")
        self.assertEqual(get(self.topo, 8080, name="a.example"), "port 80 host a.example\n")


@wl.need_root
class TestRanges(wl.TopologyCase):
    """A-B: each port to itself, one process for the entry, one MAX_CONNECTIONS count."""

    fresh_topology = True

    def test_tcp_range_is_one_process_with_one_count(self):
        start_nginx_ports(self.topo, [7000, 7001, 7002, 7003, 7004, 7005])
        proxy = self.topo.start_proxy(PORT="7000-7005", MAX_CONNECTIONS=2, METRICS_PORT=9100)
        for port in range(7000, 7006):
            self.assertEqual(get(self.topo, port), "port %d host x\n" % port)
        self.assertEqual(list(listeners(self.topo, proxy)), ["whitelist:7000-"])
        samples = wl.metrics(self.topo, 9100)
        self.assertEqual(wl.metric(samples, "whitelist_connections_total", port="7000-7005"), 6)
        # Two held connections on two ports fill the entry's one count: a third waits.
        held = [self.topo.connect(7000), self.topo.connect(7005)]
        wl.wait_until(lambda: wl.metric(wl.metrics(self.topo, 9100),
                                        "whitelist_connections_active", port="7000-7005") == 2,
                      what="two active connections")
        waiting = self.topo.connect(7003)
        waiting.sendall(b"GET / HTTP/1.0\r\n\r\n")
        waiting.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            waiting.recv(1)
        held[0].close()
        waiting.settimeout(5)
        self.assertIn(b"port 7003", wl.recv_all(waiting))
        waiting.close()
        held[1].close()

    def test_healthcheck_checks_every_socket_of_a_range(self):
        proxy = self.topo.start_proxy(PORT="7100-7109 22")
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        # One socket of the range closed under the listener (SOCK_DESTROY): unhealthy,
        # naming the entry as written and the port.
        killed = wl.run("ip", "netns", "exec", self.topo.proxy, "ss", "-K", "-tlnH",
                        "( sport = :7104 )", check=False)
        if self.topo.listening(self.topo.proxy, 7104):
            self.skipTest(wl.NOT_APPLICABLE + "this kernel cannot destroy a listening socket "
                          "(CONFIG_INET_DIAG_DESTROY): %s" % killed.stderr.strip())
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("port 7100-7109: no process of the proxy listens on 7104",
                      result.stdout + result.stderr)

    def test_udp_range_is_one_process(self):
        for port in (6000, 6001, 6002):
            start_udp_echo(self.topo, port)
        proxy = self.topo.start_proxy(PORT="6000-6002", MODE="udp", wait_ports=False)
        for port in (6000, 6002):
            wl.wait_until(lambda: self.topo.listening(self.topo.proxy, port, "udp"),
                          what="the proxy on udp %d" % port)
        for port in (6000, 6001, 6002):
            self.assertEqual(udp_ask(self.topo, port, b"to %d" % port), b"to %d" % port)
        self.assertEqual(list(listeners(self.topo, proxy)), ["whitelist:6000-"])
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_udp_one_way_range_reaches_each_port(self):
        logs = {}
        for port in (6100, 6105):
            logs[port] = os.path.join(self.topo.tmp, "sink-%d.log" % port)
            self.topo.start(self.topo.outside, ["python3", UDP_PEER, "sink", OUT_V4, str(port),
                                                logs[port]])
            wl.wait_until(lambda: self.topo.listening(self.topo.outside, port, "udp"),
                          what="udp sink %d" % port)
        proxy = self.topo.start_proxy(PORT="6100-6105", MODE="udp", UDP_ANSWERS=0,
                                      wait_ports=False)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 6105, "udp"),
                      what="the proxy on udp 6105")
        for port in (6100, 6105):
            sock = self.topo.socket_in(self.topo.inside, kind=socket.SOCK_DGRAM)
            payload = b"one way to %d" % port
            sock.sendto(payload, (PX_IN_V4, port))
            sock.close()
            digest = hashlib.sha256(payload).hexdigest()
            wl.wait_until(lambda: digest in wl.read(logs[port]), what="the datagram at %d" % port)
        self.assertEqual(list(listeners(self.topo, proxy)), ["whitelist:6100-"])

    def test_bad_entries_exit_2_naming_them(self):
        for value, message in (("8000-8010 8005", '"8000-8010" and "8005" overlap'),
                               ("9000-8000", '"9000-8000" is a reversed range'),
                               ("80 80", "80 is listed twice")):
            proc = self.topo.start_proxy(PORT=value, wait_ports=False)
            self.assertEqual(proc.wait(10), 2)
            self.assertIn("whitelist: PORT: " , wl.read(proc.log))
            self.assertIn(message, wl.read(proc.log))

    def test_thousand_ports(self):
        """1,000 ports: start time and the listener's memory (printed), and the first,
        a middle and the last port reach TARGET on the same port."""
        start_nginx_ports(self.topo, [20000, 20500, 20999])
        started = time.monotonic()
        proxy = self.topo.start_proxy(PORT="20000-20999")
        count = lambda: len(wl.run("ip", "netns", "exec", self.topo.proxy, "ss", "-ltnH",
                                   "( sport >= :20000 and sport <= :20999 )")
                            .stdout.strip().splitlines())
        wl.wait_until(lambda: count() == 1000, what="1,000 listening sockets")
        elapsed = time.monotonic() - started
        pid = listeners(self.topo, proxy)["whitelist:20000"]
        rollup = wl.read("/proc/%d/smaps_rollup" % pid)
        rss = int(re.search(r"^Rss:\s+(\d+) kB", rollup, re.M).group(1))
        pss = int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1))
        fds = wl.open_fds(pid)
        print("\n  1,000 ports: listening after %.3f s; the listener: Rss %d kB, Pss %d kB, "
              "%d fds" % (elapsed, rss, pss, fds), end=" ")
        self.assertGreaterEqual(fds, 1000)
        self.assertLess(elapsed, 10.0)
        for port in (20000, 20500, 20999):
            self.assertEqual(get(self.topo, port), "port %d host x\n" % port)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("20000-20999", result.stdout)


VSFTPD_CONF = """listen=YES
listen_ipv6=NO
listen_address={addr}
listen_port=21
background=NO
anonymous_enable=YES
no_anon_password=YES
local_enable=NO
write_enable=YES
anon_upload_enable=YES
anon_root={root}
anon_umask=022
pasv_enable=YES
pasv_min_port=30000
pasv_max_port=30009
secure_chroot_dir={empty}
seccomp_sandbox=NO
xferlog_enable=NO
vsftpd_log_file={tmp}/vsftpd.log
"""

FTP_SIZE = 20 * 1024 * 1024


class EpsvFTP(ftplib.FTP):
    """ftplib with EPSV for IPv4 too (RFC 2428): the answer is a port alone, and the
    client connects to the address of its control connection, the proxy's."""

    def makepasv(self):
        return ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())


@wl.need_root
class TestPassiveFtp(wl.TopologyCase):
    """vsftpd (passive ports 30000-30009) behind PORT="21 30000-30009": listing, a
    20 MB download and an upload, byte for byte, with curl and with Python's ftplib."""

    @classmethod
    def start_peers(cls, topo):
        wl.need_program("vsftpd", "vsftpd")
        wl.need_program("curl", "curl")
        tmp = os.path.join(topo.tmp, "ftp")
        cls.root, empty = os.path.join(tmp, "root"), os.path.join(tmp, "empty")
        cls.upload = os.path.join(cls.root, "upload")
        for path in (cls.root, empty, cls.upload):
            os.makedirs(path)
            os.chmod(path, 0o755)  # vsftpd refuses a root its anonymous user may write
        os.chmod(tmp, 0o755)
        shutil.chown(cls.upload, "ftp", "ftp")
        cls.big = os.urandom(FTP_SIZE)
        with open(os.path.join(cls.root, "big.bin"), "wb") as f:
            f.write(cls.big)
        conf = os.path.join(tmp, "vsftpd.conf")
        with open(conf, "w") as f:
            f.write(VSFTPD_CONF.format(addr=OUT_V4, root=cls.root, empty=empty, tmp=tmp))
        cls.vsftpd = topo.start(topo.outside, ["vsftpd", conf])
        wl.wait_until(lambda: topo.listening(topo.outside, 21) or cls.vsftpd.poll() is not None,
                      what="vsftpd on 21")
        if cls.vsftpd.poll() is not None:
            raise AssertionError("vsftpd exited:\n" + wl.read(cls.vsftpd.log))
        cls.proxy = topo.start_proxy(PORT="21 30000-30009")

    def curl(self, *args):
        """curl in the inside namespace (EPSV is its default); its output, as bytes."""
        result = subprocess.run(["ip", "netns", "exec", self.topo.inside, "curl", "-sS",
                                 "--max-time", "60"] + list(args), capture_output=True,
                                timeout=90)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def test_curl_lists_downloads_and_uploads(self):
        listing = self.curl("ftp://%s/" % PX_IN_V4).stdout.decode()
        self.assertIn("big.bin", listing)
        self.assertIn("upload", listing)
        got = self.curl("ftp://%s/big.bin" % PX_IN_V4).stdout
        self.assertEqual(len(got), FTP_SIZE)
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(self.big).hexdigest())
        source = os.path.join(self.topo.tmp, "curl-up.bin")
        data = os.urandom(3 * 1024 * 1024 + 17)
        with open(source, "wb") as f:
            f.write(data)
        self.curl("-T", source, "ftp://%s/upload/curl-up.bin" % PX_IN_V4)
        with open(os.path.join(self.upload, "curl-up.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(sorted(listeners(self.topo, self.proxy)),
                         ["whitelist:21", "whitelist:30000"])

    def test_ftplib_lists_downloads_and_uploads(self):
        data = os.urandom(2 * 1024 * 1024 + 5)
        with wl.Netns(self.topo.inside):  # every data connection is made in here too
            ftp = EpsvFTP()
            ftp.connect(PX_IN_V4, 21, timeout=30)
            try:
                ftp.login()
                names = ftp.nlst()
                got = io.BytesIO()
                ftp.retrbinary("RETR big.bin", got.write)
                ftp.storbinary("STOR upload/ftplib-up.bin", io.BytesIO(data))
            finally:
                ftp.close()
        self.assertIn("big.bin", names)
        self.assertEqual(hashlib.sha256(got.getvalue()).hexdigest(),
                         hashlib.sha256(self.big).hexdigest())
        with open(os.path.join(self.upload, "ftplib-up.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        # The data connections came through the range's one listener: two processes in all.
        self.assertEqual(sorted(listeners(self.topo, self.proxy)),
                         ["whitelist:21", "whitelist:30000"])


@wl.need_root
class TestEveryPort(wl.TopologyCase):
    """PORT=*: every TCP port through one socket, by an nft redirect in the proxy's
    own namespace, never METRICS_PORT, and the table gone however the proxy ends."""

    fresh_topology = True
    PORTS = [2222, 8081, 50000]

    def setUp(self):
        wl.need_program("nft", "nftables")
        super().setUp()
        start_nginx_ports(self.topo, self.PORTS + [9100])

    def nft(self, *args, check=True):
        return wl.run("ip", "netns", "exec", self.topo.proxy, "nft", *args, check=check)

    def table(self):
        """The proxy namespace's table inet whitelist, or None."""
        result = self.nft("list", "table", "inet", "whitelist", check=False)
        return result.stdout if result.returncode == 0 else None

    def start(self, **env):
        proxy = self.topo.start_proxy(PORT="*", METRICS_PORT=9100, wait_ports=False, **env)
        wl.wait_until(lambda: "redirected to port" in wl.read(proxy.log) or
                      proxy.poll() is not None, what="the redirect")
        self.assertIsNone(proxy.poll(), wl.read(proxy.log))
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 9100), what="metrics")
        return proxy

    def keeper(self, proxy):
        for pid in self.topo.children(proxy.pid):
            if wl.read("/proc/%d/comm" % pid).strip() == "whitelist-nft":
                return pid
        raise AssertionError("no whitelist-nft process")

    def assert_one_rule(self):
        self.assertEqual(self.nft("list", "tables").stdout.count("table inet whitelist"), 1)
        self.assertEqual(self.table().count("redirect to"), 1, self.table())

    def test_every_port_reaches_target_on_that_port_and_metrics_stay_ours(self):
        proxy = self.start()
        self.assert_one_rule()
        # The root keeper holds no socket of the proxy: stdin, stdout, stderr only.
        self.assertEqual(sorted(os.listdir("/proc/%d/fd" % self.keeper(proxy))), ["0", "1", "2"])
        for port in self.PORTS:
            self.assertEqual(get(self.topo, port), "port %d host x\n" % port)
        self.assertEqual(get(self.topo, 8081, host=PX_IN_V6), "port 8081 host x\n")
        # METRICS_PORT is the proxy's own: not forwarded to TARGET's 9100.
        samples = wl.metrics(self.topo, 9100)
        self.assertEqual(wl.metric(samples, "whitelist_connections_total", port="*"), 4)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(self.topo.stop(proxy), 0)
        self.assertIsNone(self.table(), "the table outlived SIGTERM")

    def test_sigkill_of_main_then_restart(self):
        proxy = self.start()
        # main killed outright: its keeper removes the table.
        proxy.kill()
        proxy.wait()
        wl.wait_until(lambda: self.table() is None, what="the table removed after SIGKILL")
        # main and its keeper killed together: the table stays, stale...
        proxy = self.start()
        keeper = self.keeper(proxy)
        os.kill(keeper, signal.SIGSTOP)
        proxy.kill()
        proxy.wait()
        os.kill(keeper, signal.SIGKILL)
        self.assertIsNotNone(self.table())
        stale = re.search(r"redirect to :(\d+)", self.table()).group(1)
        # ... until the next start replaces it: one table, one rule, the new port.
        proxy = self.start()
        self.assert_one_rule()
        fresh = re.search(r"redirect to :(\d+)", self.table()).group(1)
        self.assertEqual(int(fresh), int(re.search(r"redirected to port (\d+)",
                                                   wl.read(proxy.log)).group(1)))
        self.assertNotEqual(stale, fresh)
        self.assertEqual(get(self.topo, 50000), "port 50000 host x\n")

    def test_a_dead_listener_ends_the_proxy_and_the_table(self):
        proxy = self.start()
        os.kill(listeners(self.topo, proxy)["whitelist:*"], signal.SIGKILL)
        self.assertEqual(proxy.wait(15), 1)
        self.assertIsNone(self.table())

    def test_without_cap_net_admin_exit_2(self):
        wl.need_program("setpriv", "util-linux")
        proxy = self.topo.start_proxy(
            PORT="*", wait_ports=False,
            wrapper=("setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin", "--"))
        self.assertEqual(proxy.wait(10), 2)
        log = wl.read(proxy.log)
        self.assertIn("whitelist: PORT: \"*\" needs CAP_NET_ADMIN", log)
        self.assertIsNone(self.table())


if __name__ == "__main__":
    unittest.main()
