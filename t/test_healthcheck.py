"""healthcheck end to end: the real binary in the proxy's namespace, against a
real proxy and real peers (nginx, Python's smtpd, dnsmasq, a silent port)."""

import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

import hostile_dns
import wl
from wl import OUT_V4, OUT2_V4, OUT_V6

SPARE_V4 = "198.18.2.4"  # answered by DNS only; nothing listens there
INDEX = {"index.html": b"index\n"}  # so that the default URL, "/", gets 200


def healthcheck(topo, env, ns=None, **overrides):
    """Runs ./healthcheck in ns (default: the proxy's) with env plus overrides."""
    env = dict(env, **{name: str(value) for name, value in overrides.items()})
    started = time.monotonic()
    result = subprocess.run(["ip", "netns", "exec", ns or topo.proxy, wl.HEALTHCHECK], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=30)
    result.elapsed = time.monotonic() - started
    return result


def line_of(result, check):
    """The one line a check printed, from stdout or stderr."""
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if line.startswith("healthcheck: %s: " % check)]
    if len(lines) != 1:
        raise AssertionError("expected one %s line:\n%s%s" % (check, result.stdout,
                                                               result.stderr))
    return lines[0]


def state_of(pid):
    return wl.read("/proc/%d/stat" % pid).rsplit(")", 1)[-1].split()[:1]


class RotatingDns:
    """A DNS server that answers each A query with the next address of a list:
    DNS load balancing as a cloud provider does it. AAAA queries get no data."""

    def __init__(self, topo, addrs):
        self.addrs, self.queries, self.stopping = addrs, 0, False
        self.sock = topo.socket_in(topo.outside, socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((OUT_V4, 53))
        self.sock.settimeout(0.05)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                packet, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(packet)
            if reply:
                self.sock.sendto(reply, peer)

    def answer(self, packet):
        try:
            _, qtype, question = hostile_dns.parse_question(packet)
        except (IndexError, struct.error):
            return None
        query_id = struct.unpack("!H", packet[:2])[0]
        if qtype != 1:
            return hostile_dns.reply(query_id, question, [])
        addr = self.addrs[self.queries % len(self.addrs)]
        self.queries += 1
        return hostile_dns.reply(query_id, question, [addr], ttl=0)

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


class TestHealthy(wl.TopologyCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        wl.start_nginx(cls.topo, files=INDEX)
        wl.start_smtpd(cls.topo)
        cls.proxy = cls.topo.start_proxy(PORT="80 25", VERBOSE=1, HTTP_HEALTHCHECK=1,
                                         SMTP_HEALTHCHECK=1)

    def test_one_line_per_check_and_exit_0(self):
        result = healthcheck(self.topo, self.proxy.env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 4, lines)
        self.assertEqual(lines[0], "healthcheck: processes: proxy %d listens on tcp 80 25 "
                         "(0 connections)" % self.proxy.pid)
        self.assertEqual(lines[1], "healthcheck: loop: no connection led back to the proxy "
                         "itself in the last 60 s")
        self.assertRegex(lines[2], r"^healthcheck: http: http://%s/ through 127\.0\.0\.1:80: "
                         r"200 \(\d+ ms\)$" % OUT_V4)
        self.assertRegex(lines[3], r"^healthcheck: smtp: smtp://%s/ HELP through "
                         r"127\.0\.0\.1:25: 250 \(\d+ ms\)$" % OUT_V4)

    def test_probes_go_through_the_proxy(self):
        def relayed(port):
            pattern = r"connect 127\.0\.0\.1:\d+ -> %d -> %s:%d\n" % (port, OUT_V4, port)
            return len(re.findall(pattern, wl.read(self.proxy.log)))

        before = {port: relayed(port) for port in (80, 25)}
        self.assertEqual(healthcheck(self.topo, self.proxy.env).returncode, 0)
        for port in (80, 25):
            wl.wait_until(lambda: relayed(port) == before[port] + 1,
                          what="the probe of port %d relayed by the proxy" % port)

    def test_any_http_status_is_an_answer(self):
        """As the old image: the target answered through the proxy, whatever it said."""
        result = healthcheck(self.topo, self.proxy.env,
                             HTTP_HEALTHCHECK_URL="http://$TARGET/missing")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(line_of(result, "http"), r"/missing through 127\.0\.0\.1:80: 404 ")

    def test_counts_connections_and_flags_more_than_max(self):
        listener = wl.listener_of(self.topo, self.proxy, 80)
        clients = [self.topo.connect(80) for _ in range(2)]
        try:
            wl.wait_until(lambda: len(self.topo.children(listener)) == 2, what="2 relays")
            result = healthcheck(self.topo, self.proxy.env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("listens on tcp 80 25 (2 connections)", line_of(result, "processes"))
            result = healthcheck(self.topo, self.proxy.env, MAX_CONNECTIONS=1)
            self.assertEqual(result.returncode, 1)
            self.assertEqual(line_of(result, "processes"),
                             "healthcheck: processes: unhealthy: proxy %d: port 80: 2 "
                             "connections, more than MAX_CONNECTIONS=1" % self.proxy.pid)
        finally:
            for sock in clients:
                sock.close()

    def test_a_proxy_in_another_namespace_is_not_ours(self):
        result = healthcheck(self.topo, self.proxy.env, ns=self.topo.inside)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr, "healthcheck: processes: unhealthy: no whitelist "
                         "process in this network namespace: the proxy is not running\n")
        self.assertEqual(result.stdout, "", "nothing else is probed without a proxy")


class TestProbeFailures(wl.TopologyCase):
    fresh_topology = True

    def test_target_down(self):
        nginx = wl.start_nginx(self.topo, files=INDEX)
        proxy = self.topo.start_proxy(PORT="80", HTTP_HEALTHCHECK=1)
        self.assertEqual(healthcheck(self.topo, proxy.env).returncode, 0)
        self.topo.stop(nginx)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 1)
        self.assertIn("healthcheck: processes: proxy %d listens" % proxy.pid, result.stdout)
        self.assertRegex(line_of(result, "http"), r"^healthcheck: http: unhealthy: "
                         r"http://%s/ through 127\.0\.0\.1:80: .+ \(\d+ ms\)$" % OUT_V4)

    def assert_fails_after_the_timeout(self, result, check):
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("timed out", line_of(result, check))
        self.assertGreaterEqual(result.elapsed, 0.2, "not before the timeout")
        self.assertLess(result.elapsed, 2.0, "not long after it")

    def test_silent_http_target_fails_after_the_timeout(self):
        silent = wl.silent_listener(self.topo, 80)
        try:
            proxy = self.topo.start_proxy(PORT="80", HTTP_HEALTHCHECK=1,
                                          HTTP_HEALTHCHECK_TIMEOUT_MS=200)
            self.assert_fails_after_the_timeout(healthcheck(self.topo, proxy.env), "http")
        finally:
            silent.close()

    def test_silent_smtp_target_fails_after_the_timeout(self):
        silent = wl.silent_listener(self.topo, 25)
        try:
            proxy = self.topo.start_proxy(PORT="25", SMTP_HEALTHCHECK=1,
                                          SMTP_HEALTHCHECK_TIMEOUT_MS=200)
            self.assert_fails_after_the_timeout(healthcheck(self.topo, proxy.env), "smtp")
        finally:
            silent.close()

    def test_smtp_server_without_help_needs_quit(self):
        wl.start_smtpd(self.topo, help_command=False)
        proxy = self.topo.start_proxy(PORT="25", SMTP_HEALTHCHECK=1)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 1)
        self.assertRegex(line_of(result, "smtp"), r"^healthcheck: smtp: unhealthy: smtp://%s/ "
                         r"HELP through 127\.0\.0\.1:25: .*500" % OUT_V4)
        result = healthcheck(self.topo, proxy.env, SMTP_HEALTHCHECK_COMMAND="QUIT")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(line_of(result, "smtp"), r"^healthcheck: smtp: smtp://%s/ QUIT "
                         r"through 127\.0\.0\.1:25: 221 " % OUT_V4)

    def test_ipv6_target_is_bracketed_and_pinned(self):
        wl.start_nginx(self.topo, files=INDEX)
        proxy = self.topo.start_proxy(TARGET=OUT_V6, PORT="80", VERBOSE=1, HTTP_HEALTHCHECK=1)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(line_of(result, "http"), r"^healthcheck: http: http://\[%s\]/ "
                         r"through 127\.0\.0\.1:80: 200 " % OUT_V6)
        pattern = r"connect 127\.0\.0\.1:\d+ -> 80 -> \[%s\]:80" % OUT_V6
        wl.wait_until(lambda: re.search(pattern, wl.read(proxy.log)),
                      what="the probe relayed to the v6 target")

    def test_single_odd_port_is_written_into_the_url(self):
        wl.start_nginx(self.topo, port=8080, files=INDEX)
        proxy = self.topo.start_proxy(PORT="8080", HTTP_HEALTHCHECK=1)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(line_of(result, "http"), r"^healthcheck: http: http://%s:8080/ "
                         r"through 127\.0\.0\.1:8080: 200 " % OUT_V4)


class TestDns(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo, files=INDEX)
        wl.start_nginx(self.topo, addr=OUT2_V4, addr6=None, files=INDEX)

    def move_target(self, dns, addr):
        with open(dns.hosts, "w") as f:
            f.write("%s target.test\n" % addr)
        dns.send_signal(signal.SIGHUP)

    def test_pre_resolve_unhealthy_once_target_moved(self):
        dns = wl.start_dnsmasq(self.topo, "%s target.test\n" % OUT_V4)
        proxy = self.topo.start_proxy(TARGET="target.test", PRE_RESOLVE=1, NAMESERVERS=OUT_V4,
                                      PORT="80")
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(line_of(result, "dns"),
                         "healthcheck: dns: target.test still resolves to %s" % OUT_V4)
        self.move_target(dns, OUT2_V4)
        result = wl.wait_until(lambda: (lambda r: r.returncode == 1 and r)(
            healthcheck(self.topo, proxy.env)), what="unhealthy after the move")
        self.assertEqual(line_of(result, "dns"),
                         "healthcheck: dns: unhealthy: target.test moved: now %s; proxy uses "
                         "%s (asked twice)" % (OUT2_V4, OUT_V4))
        self.assertIn("healthcheck: processes: proxy", result.stdout, "only DNS failed")

    def test_without_pre_resolve_a_move_never_makes_it_unhealthy(self):
        dns = wl.start_dnsmasq(self.topo, "%s target.test\n" % OUT_V4)
        proxy = self.topo.start_proxy(TARGET="target.test", PORT="80", HTTP_HEALTHCHECK=1)
        self.assertEqual(healthcheck(self.topo, proxy.env).returncode, 0)
        self.move_target(dns, OUT2_V4)
        wl.wait_until(lambda: wl.http_get(self.topo)[1] == b"hello from %s\n" %
                      OUT2_V4.encode(), what="the proxy following the move")
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("dns:", result.stdout + result.stderr)
        self.assertRegex(line_of(result, "http"), r"http://target\.test/ through "
                         r"127\.0\.0\.1:80: 200 ")

    def test_answers_that_keep_changing_disable_the_check(self):
        dns = RotatingDns(self.topo, [OUT_V4, OUT2_V4, SPARE_V4])
        try:
            proxy = self.topo.start_proxy(TARGET="target.test", PRE_RESOLVE=1,
                                          NAMESERVERS=OUT_V4, PORT="80")
            self.assertIn("resolved target.test to %s" % OUT_V4, wl.read(proxy.log))
            flag = os.path.join(self.topo.tmp, "whitelist-dns-balanced")
            result = healthcheck(self.topo, proxy.env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(line_of(result, "dns"), "healthcheck: dns: target.test answers "
                             "keep changing (%s, then %s): DNS load balancing, check disabled "
                             "from now on (%s)" % (OUT2_V4, SPARE_V4, flag))
            self.assertTrue(os.path.exists(flag))
            asked = dns.queries
            result = healthcheck(self.topo, proxy.env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(line_of(result, "dns"), "healthcheck: dns: skipped: target.test "
                             "is DNS load balanced (%s exists)" % flag)
            self.assertEqual(dns.queries, asked, "no DNS question once the flag is set")
        finally:
            dns.close()

    def test_pre_resolve_of_an_ip_address_has_nothing_to_check(self):
        proxy = self.topo.start_proxy(PRE_RESOLVE=1, NAMESERVERS=OUT_V4, PORT="80")
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(line_of(result, "dns"), "healthcheck: dns: TARGET %s is an IP "
                         "address: nothing to resolve" % OUT_V4)

    def test_a_proxy_whose_state_is_gone_is_named(self):
        """Not "not running": the proxy runs, and the line says what is missing."""
        proxy = self.topo.start_proxy(PORT="80")
        [state] = wl.state_files(proxy.pid)
        os.unlink(state)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(line_of(result, "processes"), "healthcheck: processes: unhealthy: "
                         "whitelist (pid %d) runs but published no state in /dev/shm: it must "
                         "be writable for the proxy, and the same directory for the "
                         "healthcheck" % proxy.pid)

    def test_unreachable_nameservers_are_not_unhealthy(self):
        dns = wl.start_dnsmasq(self.topo, "%s target.test\n" % OUT_V4)
        proxy = self.topo.start_proxy(TARGET="target.test", PRE_RESOLVE=1, NAMESERVERS=OUT_V4,
                                      PORT="80")
        self.topo.stop(dns)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(line_of(result, "dns"), r"^healthcheck: dns: unable to check "
                         r"target\.test at NAMESERVERS \(.+\): not counted as unhealthy$")
        self.assertLess(result.elapsed, 6, "bounded by the resolver's timeout")


class TestUdp(wl.TopologyCase):
    """MODE=udp: bound sockets instead of listening ones, sessions as connections."""

    fresh_topology = True

    def start_udp_proxy(self, **variables):
        proxy = self.topo.start_proxy(wait_ports=False, MODE="udp", PORT="9000 9001",
                                      **variables)
        for port in (9000, 9001):
            wl.wait_until(lambda: self.topo.listening(self.topo.proxy, port, "udp") or
                          proxy.poll() is not None, what="udp port %d bound" % port)
        self.assertIsNone(proxy.poll(), wl.read(proxy.log))
        return proxy

    def send_datagram(self, port):
        with wl.Netns(self.topo.inside):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sendto(b"ping", (wl.PX_IN_V4, port))
        return sock

    def test_sessions_count_as_connections(self):
        proxy = self.start_udp_proxy()
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(line_of(result, "processes"), "healthcheck: processes: proxy %d "
                         "listens on udp 9000 9001 (0 connections)" % proxy.pid)
        sock = self.send_datagram(9000)
        try:
            listener = wl.listener_of(self.topo, proxy, 9000)
            wl.wait_until(lambda: self.topo.children(listener), what="the session")
            self.assertIn("(1 connection)", line_of(healthcheck(self.topo, proxy.env),
                                                    "processes"))
        finally:
            sock.close()

    def test_one_way_mode_and_a_dead_udp_listener(self):
        proxy = self.start_udp_proxy(UDP_ANSWERS=0)
        self.send_datagram(9001).close()
        self.assertEqual(healthcheck(self.topo, proxy.env).returncode, 0)
        listener = wl.listener_of(self.topo, proxy, 9001)
        os.kill(proxy.pid, signal.SIGSTOP)
        try:
            os.kill(listener, signal.SIGKILL)
            wl.wait_until(lambda: state_of(listener) == ["Z"], what="the listener a zombie")
            self.assertEqual(line_of(healthcheck(self.topo, proxy.env), "processes"),
                             "healthcheck: processes: unhealthy: proxy %d: port 9001: its "
                             "listener has exited" % proxy.pid)
        finally:
            os.kill(proxy.pid, signal.SIGCONT)


# The capability sets a container engine gives the healthcheck: Docker's and podman's
# defaults (no CAP_SYS_PTRACE), and the README's hardening.
DOCKER_CAPS = ("chown,dac_override,fowner,fsetid,kill,setgid,setuid,setpcap,net_bind_service,"
               "net_raw,sys_chroot,mknod,audit_write,setfcap")
ENGINE_CAPS = {"docker and podman defaults": DOCKER_CAPS,
               "cap_drop ALL, cap_add NET_BIND_SERVICE": "net_bind_service"}


def healthcheck_with_caps(topo, env, caps):
    """The healthcheck as root with only `caps` (setpriv), as a container runs it."""
    return subprocess.run(["ip", "netns", "exec", topo.proxy, "setpriv",
                           "--bounding-set=-all," + ",".join("+" + c for c in caps.split(",")),
                           "--inh-caps=-all", wl.HEALTHCHECK], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


class TestWithoutPtrace(wl.TopologyCase):
    """In a container the proxy runs as RUN_AS and the healthcheck as root without
    CAP_SYS_PTRACE: it may not look into the proxy's processes, and must not need to."""

    @classmethod
    def start_peers(cls, topo):
        wl.start_nginx(topo, files=INDEX)

    def test_healthy_with_an_engine_s_capabilities(self):
        proxy = self.topo.start_proxy(PORT="80", HTTP_HEALTHCHECK=1, PRE_RESOLVE=1,
                                      NAMESERVERS=OUT_V4)
        for name, caps in ENGINE_CAPS.items():
            with self.subTest(caps=name):
                result = healthcheck_with_caps(self.topo, proxy.env, caps)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.assertIn("healthcheck: processes: proxy %d listens on tcp 80" % proxy.pid,
                              result.stdout)
        self.topo.stop(proxy)

    def test_a_state_it_may_not_read_is_named(self):
        proxy = self.topo.start_proxy(PORT="80")
        [state] = wl.state_files(proxy.pid)
        os.chmod(state, 0o600)  # owned by RUN_AS: root without CAP_DAC_OVERRIDE may not read
        try:
            result = healthcheck_with_caps(self.topo, proxy.env, "net_bind_service")
            self.assertEqual(result.returncode, 1)
            self.assertEqual(line_of(result, "processes"), "healthcheck: processes: unhealthy: "
                             "unable to read %s: Permission denied" % state)
        finally:
            os.chmod(state, 0o644)
        self.topo.stop(proxy)


class TestProcesses(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo, files=INDEX)

    def test_no_proxy_at_all(self):
        result = healthcheck(self.topo, self.topo.proxy_env(PORT="80", HTTP_HEALTHCHECK=1))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr, "healthcheck: processes: unhealthy: no whitelist "
                         "process in this network namespace: the proxy is not running\n")

    def test_killed_listener_before_the_proxy_reacts(self):
        proxy = self.topo.start_proxy(PORT="80 443")
        listener = wl.listener_of(self.topo, proxy, 443)
        os.kill(proxy.pid, signal.SIGSTOP)  # the main process cannot reap or stop yet
        try:
            os.kill(listener, signal.SIGKILL)
            wl.wait_until(lambda: state_of(listener) == ["Z"], what="the listener a zombie")
            result = healthcheck(self.topo, proxy.env)
            self.assertEqual(result.returncode, 1)
            self.assertEqual(line_of(result, "processes"), "healthcheck: processes: unhealthy: "
                             "proxy %d: port 443: its listener has exited" % proxy.pid)
        finally:
            os.kill(proxy.pid, signal.SIGCONT)
        self.assertEqual(proxy.wait(10), 1)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no whitelist process in this network namespace", result.stderr)

    def test_orphaned_relays_do_not_pass_for_a_listener(self):
        """A relay whose listener died is re-parented to the main process and still
        carries the name "whitelist:80": the healthcheck goes by the published pid."""
        proxy = self.topo.start_proxy(PORT="80 443")
        listener = wl.listener_of(self.topo, proxy, 80)
        client = self.topo.connect(80)
        try:
            relay = wl.wait_until(lambda: self.topo.children(listener), what="the relay")[0]
            os.kill(proxy.pid, signal.SIGSTOP)
            try:
                os.kill(listener, signal.SIGKILL)
                wl.wait_until(lambda: relay in self.topo.children(proxy.pid),
                              what="the relay re-parented to the proxy")
                self.assertEqual(wl.read("/proc/%d/comm" % relay).strip(), "whitelist:80")
                result = healthcheck(self.topo, proxy.env)
                self.assertEqual(result.returncode, 1)
                self.assertEqual(line_of(result, "processes"), "healthcheck: processes: "
                                 "unhealthy: proxy %d: port 80: its listener has exited"
                                 % proxy.pid)
            finally:
                os.kill(proxy.pid, signal.SIGCONT)
        finally:
            client.close()

    def test_a_stopped_listener_cannot_serve(self):
        proxy = self.topo.start_proxy(PORT="80 443")
        listener = wl.listener_of(self.topo, proxy, 443)
        os.kill(listener, signal.SIGSTOP)
        try:
            wl.wait_until(lambda: state_of(listener) == ["T"], what="the listener stopped")
            result = healthcheck(self.topo, proxy.env)
            self.assertEqual(result.returncode, 1)
            self.assertEqual(line_of(result, "processes"), "healthcheck: processes: unhealthy: "
                             "proxy %d: port 443: its listener is stopped (SIGSTOP)" % proxy.pid)
        finally:
            os.kill(listener, signal.SIGCONT)
        self.assertEqual(healthcheck(self.topo, proxy.env).returncode, 0)

    def test_killed_listener_is_unhealthy_at_once(self):
        proxy = self.topo.start_proxy(PORT="80 443", HTTP_HEALTHCHECK=1)
        self.assertEqual(healthcheck(self.topo, proxy.env).returncode, 0)
        os.kill(wl.listener_of(self.topo, proxy, 443), signal.SIGKILL)
        result = healthcheck(self.topo, proxy.env)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertRegex(line_of(result, "processes"), r"unhealthy: (proxy \d+: port 443|no "
                         r"whitelist process)")

    def test_bad_variable_is_unhealthy_never_2(self):
        result = healthcheck(self.topo, self.topo.proxy_env(PORT="http"))
        self.assertEqual(result.returncode, 1, "Docker reserves 2")
        self.assertEqual(result.stderr, "healthcheck: config: unhealthy: PORT: \"http\" is "
                         "not a port number (1-65535)\n")


if __name__ == "__main__":
    unittest.main()
