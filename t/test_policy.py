"""POLICY end to end: several apps share one proxy, each reaches only its own
hosts. Three clients in the inside namespace (198.18.1.11-13, known to the
proxy by name through its hosts file, as the engine's DNS would name them),
nginx outside answering for every name. Routed mode answers a refusal with a
403 naming the host, classic mode closes; both are counted and logged.
(user:NAME rules, CONNECT mode, are tested once that mode is merged.)"""

import os
import re
import socket
import ssl
import sys
import time

import wl
from wl import OUT_V4, PX_IN_V4

METRICS = 9100
APP1, APP2, APP3, APP1_MOVED = "198.18.1.11", "198.18.1.12", "198.18.1.13", "198.18.1.14"
NAMES = ("a.test", "b.test", "c.test", "open.test")
HOSTS = dict({name: OUT_V4 for name in NAMES}, app1=APP1, app2=APP2)
ROUTED = dict(PORT="80", TARGET=" ".join(NAMES), METRICS_PORT=METRICS,
              POLICY="app1 = a.test\napp2 = b.test; %s/32 = c.test" % APP3)


def add_client_addresses(topo, *addrs):
    """The apps' addresses on the inside namespace's link (its only one besides lo)."""
    dev = "wl%sa" % topo.inside[2:-1]
    for addr in addrs:
        topo.ip(topo.inside, "addr", "add", addr + "/24", "dev", dev)


def request(topo, source, host, port=80):
    """GET /hello with Host: host from source; (status line, body), or ("closed", b"")
    when the proxy closed without a word."""
    sock = topo.socket_in(topo.inside)
    sock.settimeout(5)
    try:
        sock.bind((source, 0))
        sock.connect((PX_IN_V4, port))
        sock.sendall(("GET /hello HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                      % host).encode())
        data = wl.recv_all(sock)
    except ConnectionResetError:
        data = b""
    finally:
        sock.close()
    if not data:
        return "closed", b""
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(errors="replace"), body


def reaches(topo, source, host):
    status, body = request(topo, source, host)
    return status.endswith("200 OK") and body.startswith(b"hello from")


def refused_by_policy(topo, source, host):
    status, body = request(topo, source, host)
    return status.endswith("403 Forbidden") and b"is not for this client" in body


def write_hosts(topo, hosts):
    """Rewrites the proxy's /etc/hosts in place (the same inode: `ip netns exec` bind-
    mounted it), as the engine's DNS changes its answer when a container moves."""
    with open("/etc/netns/%s/hosts" % topo.proxy, "w") as f:
        f.write("127.0.0.1 localhost\n::1 localhost\n")
        for name, addr in hosts.items():
            f.write("%s %s\n" % (addr, name))


class RoutedPolicy(wl.TopologyCase):
    hosts = HOSTS

    @classmethod
    def start_peers(cls, topo):
        wl.start_nginx(topo)
        add_client_addresses(topo, APP1, APP2, APP3, APP1_MOVED)
        cls.proxy = topo.start_proxy(**ROUTED)

    def test_each_client_reaches_its_own_hosts_only(self):
        own = {APP1: "a.test", APP2: "b.test", APP3: "c.test"}
        for source, mine in own.items():
            for host in ("a.test", "b.test", "c.test"):
                if host == mine:
                    self.assertTrue(reaches(self.topo, source, host), (source, host))
                else:
                    self.assertTrue(refused_by_policy(self.topo, source, host), (source, host))

    def test_an_entry_no_rule_names_stays_open(self):
        for source in (APP1, APP2, APP3, APP1_MOVED):
            self.assertTrue(reaches(self.topo, source, "open.test"), source)

    def test_a_client_no_rule_names_reaches_only_open_entries(self):
        self.assertTrue(refused_by_policy(self.topo, APP1_MOVED, "a.test"))
        self.assertTrue(refused_by_policy(self.topo, wl.IN_V4, "c.test"))

    def test_a_tls_client_gets_the_unrecognized_name_alert(self):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock = self.topo.socket_in(self.topo.inside)
        self.addCleanup(sock.close)
        sock.settimeout(5)
        sock.bind((APP2, 0))
        sock.connect((PX_IN_V4, 80))
        with self.assertRaisesRegex(ssl.SSLError, "UNRECOGNIZED_NAME"):
            context.wrap_socket(sock, server_hostname="a.test")

    def test_refusal_is_logged_with_client_name_and_host(self):
        # Refusals are logged once a second per port and reason.
        time.sleep(1.1)
        self.assertTrue(refused_by_policy(self.topo, APP2, "a.test"))
        wl.wait_until(lambda: re.search(
            r'port 80: refused 198\.18\.1\.12:\d+: "a\.test" is not for this client '
            r'\(POLICY: client app2\) \(policy;', wl.read(self.proxy.log)),
            what="the refusal's log line")

    def test_metrics_count_refusals_and_routes_by_client(self):
        self.assertTrue(reaches(self.topo, APP1, "a.test"))
        self.assertTrue(reaches(self.topo, APP3, "c.test"))
        self.assertTrue(reaches(self.topo, APP3, "open.test"))
        self.assertTrue(refused_by_policy(self.topo, APP1, "b.test"))
        samples = wl.metrics(self.topo, METRICS)
        self.assertGreaterEqual(wl.metric(samples, "whitelist_connections_refused_total",
                                          port=80, reason="policy"), 1)
        self.assertGreaterEqual(wl.metric(samples, "whitelist_routed_total", port=80,
                                          target="a.test", client="app1"), 1)
        self.assertGreaterEqual(wl.metric(samples, "whitelist_routed_total", port=80,
                                          target="c.test", client=APP3 + "/32"), 1)
        self.assertGreaterEqual(wl.metric(samples, "whitelist_routed_total", port=80,
                                          target="open.test", client=""), 1)
        # The client label's values are POLICY's clients (and "" for open entries), nothing else.
        clients = {dict(labels).get("client") for name, labels in samples
                   if name == "whitelist_routed_total"}
        self.assertEqual(clients, {"app1", "app2", APP3 + "/32", ""})


class ClassicPolicy(wl.TopologyCase):
    """One TARGET: a rule for it narrows who may connect, like ALLOW_FROM."""
    hosts = HOSTS

    @classmethod
    def start_peers(cls, topo):
        wl.start_nginx(topo)
        add_client_addresses(topo, APP1, APP2)
        cls.proxy = topo.start_proxy(PORT="80", TARGET=OUT_V4, METRICS_PORT=METRICS,
                                     POLICY="app1 = " + OUT_V4)

    def test_only_the_rule_client_connects(self):
        self.assertTrue(reaches(self.topo, APP1, "x"))
        self.assertEqual(request(self.topo, APP2, "x"), ("closed", b""))
        samples = wl.metrics(self.topo, METRICS)
        self.assertGreaterEqual(wl.metric(samples, "whitelist_connections_refused_total",
                                          port=80, reason="policy"), 1)
        wl.wait_until(lambda: re.search(
            r'port 80: refused 198\.18\.1\.12:\d+: "198\.18\.2\.2" is not for this client '
            r'\(POLICY\) \(policy;', wl.read(self.proxy.log)), what="the refusal's log line")

    def test_the_healthcheck_from_loopback_passes(self):
        with wl.Netns(self.topo.proxy):
            sock = socket.create_connection(("127.0.0.1", 80), timeout=5)
        try:
            sock.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
            self.assertIn(b"hello from", wl.recv_all(sock))
        finally:
            sock.close()


class ClassicUdpPolicy(wl.TopologyCase):
    """MODE=udp, one TARGET: datagrams of a client no rule for it names are dropped
    before any session."""
    hosts = HOSTS
    fresh_topology = True

    def test_only_the_rule_client_gets_answers(self):
        log = os.path.join(self.topo.tmp, "peer.log")
        open(log, "w").close()
        peer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_peer.py")
        self.topo.start(self.topo.outside, [sys.executable, peer, "echo", OUT_V4, "5353", log])
        wl.wait_until(lambda: self.topo.listening(self.topo.outside, 5353, "udp"), what="peer")
        add_client_addresses(self.topo, APP1, APP2)
        self.topo.start_proxy(MODE="udp", PORT="5353", TARGET=OUT_V4, METRICS_PORT=METRICS,
                              POLICY="app1 = " + OUT_V4)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, METRICS), what="metrics")
        socks = {}
        for source in (APP1, APP2):
            sock = socks[source] = self.topo.socket_in(self.topo.inside, kind=socket.SOCK_DGRAM)
            self.addCleanup(sock.close)
            sock.settimeout(0.5)
            sock.bind((source, 0))
            sock.connect((PX_IN_V4, 5353))
        socks[APP2].send(b"app2")
        socks[APP1].send(b"app1")
        self.assertEqual(socks[APP1].recv(100), b"app1")
        with self.assertRaises(socket.timeout):
            socks[APP2].recv(100)
        self.assertEqual(len(wl.read(log).splitlines()), 1, "only app1's datagram went out")
        samples = wl.metrics(self.topo, METRICS)
        self.assertEqual(wl.metric(samples, "whitelist_connections_refused_total", port=5353,
                                   reason="policy"), 1)


class BadPolicy(wl.TopologyCase):
    hosts = HOSTS

    def exits_2_with(self, message, **variables):
        proxy = self.topo.start_proxy(wait_ports=False, PORT="80", **variables)
        self.assertEqual(proxy.wait(10), 2)
        lines = wl.read(proxy.log).splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(message, lines[0])
        self.assertFalse(self.topo.listening(self.topo.proxy, 80))

    def test_each_wrong_part_is_named(self):
        target = " ".join(NAMES)
        self.exits_2_with('POLICY: "d.test" is not an entry of TARGET', TARGET=target,
                          POLICY="app1 = d.test")
        self.exits_2_with('POLICY: client "app!" is not a host name, an IP address, a CIDR '
                          'or user:NAME', TARGET=target, POLICY="app! = a.test")
        self.exits_2_with('POLICY: rule "app1 =" has no TARGET entries', TARGET=target,
                          POLICY="app1 =")
        self.exits_2_with('POLICY: rule "= a.test" has no clients', TARGET=target,
                          POLICY="= a.test")
        self.exits_2_with('POLICY: "nosuch.test" does not resolve', TARGET=target,
                          POLICY="nosuch.test = a.test")


class NamesFollowed(wl.TopologyCase):
    """A client name whose address changes is followed within 30 s (POLICY and
    ALLOW_FROM alike); a name that stops resolving keeps its last addresses."""
    hosts = HOSTS
    fresh_topology = True

    def test_a_moved_container_keeps_its_policy(self):
        wl.start_nginx(self.topo)
        add_client_addresses(self.topo, APP1, APP2, APP1_MOVED)
        proxy = self.topo.start_proxy(ALLOW_FROM="app1 app2", **ROUTED)
        self.assertTrue(reaches(self.topo, APP1, "a.test"))
        self.assertTrue(reaches(self.topo, APP2, "b.test"))
        # Not app1 yet: not even admitted by ALLOW_FROM.
        self.assertEqual(request(self.topo, APP1_MOVED, "a.test"), ("closed", b""))
        # app1 restarts elsewhere; app2's name goes away (a failed lookup).
        moved = dict(HOSTS, app1=APP1_MOVED)
        del moved["app2"]
        write_hosts(self.topo, moved)
        changed = time.monotonic()
        wl.wait_until(lambda: reaches(self.topo, APP1_MOVED, "a.test"), timeout=35,
                      interval=0.5, what="app1's new address followed")
        self.assertLessEqual(time.monotonic() - changed, 35)
        self.assertEqual(request(self.topo, APP1, "a.test"), ("closed", b""))
        self.assertTrue(reaches(self.topo, APP2, "b.test"), "app2 keeps its last address")
        log = wl.read(proxy.log)
        self.assertRegex(log, r'ALLOW_FROM: "app1" is now 198\.18\.1\.14 \(was 198\.18\.1\.11\)')
        self.assertRegex(log, r'ALLOW_FROM: "app2" does not resolve \(.*\): keeping its last')
