"""Routed mode end to end: several hosts through one proxy, chosen by the TLS
ClientHello's server_name or the HTTP request's Host, with real peers: nginx
serving every name with one certificate from a test CA, at a different
address per name; curl, openssl and Python's ssl as clients; dnsmasq."""

import re
import socket
import ssl
import subprocess
import threading
import time

import wl
from wl import IN_V4, IN_V6, OUT_V4, OUT2_V4, PX_IN_V4, PX_OUT_V4

NAMES = ["a.test", "b.test", "c.test", "x.wild.test", "deep.x.wild.test", "wild.test",
         "private.wild.test", "any.other"]
DNS = ("{a} a.test\n{b} b.test\n{a} c.test\n{a} x.wild.test\n{b} deep.x.wild.test\n"
       "{a} wild.test\n127.0.0.1 private.wild.test\n{b} any.other\n"
       # on the internal network, behind the proxy; the proxy itself; a network added later
       "{i4} inside.wild.test\n{i6} inside6.wild.test\n{p} proxy.wild.test\n"
       "198.18.5.2 later.wild.test\n").format(a=OUT_V4, b=OUT2_V4, i4=IN_V4, i6=IN_V6,
                                              p=PX_OUT_V4)
METRICS = 9100
LATER_PX, LATER_PEER = "198.18.5.1", "198.18.5.2"


def served(topo, nginx):
    """The requests an nginx saw (its access log's lines)."""
    return len(wl.read(nginx.access_log).splitlines())


class RoutedCase(wl.TopologyCase):
    """nginx at OUT_V4 and OUT2_V4 (each answers "HOST at ADDRESS"), dnsmasq with
    one address per name (TTL 30 s), a test CA."""

    @classmethod
    def start_peers(cls, topo):
        topo.route_out()  # as an engine does: the outside network is the way out
        cls.ca, cert, key = wl.make_test_ca(topo, NAMES + ["*.wild.test", "*.x.wild.test"])
        cls.nginx = [wl.start_tls_nginx(topo, OUT_V4, cert, key),
                     wl.start_tls_nginx(topo, OUT2_V4, cert, key)]
        cls.dns = wl.start_dnsmasq(topo, DNS, extra=["--local-ttl=30", "--log-queries"])

    def curl_tls(self, name, port=443, *extra):
        return wl.run("ip", "netns", "exec", self.topo.inside, "curl", "-sS", "--max-time", "5",
                      "--cacert", self.ca, "--resolve", "%s:%d:%s" % (name, port, PX_IN_V4),
                      "https://%s:%d/" % (name, port), *extra, check=False)

    def http(self, head):
        """A raw HTTP request (head as bytes); the whole answer."""
        sock = self.topo.connect(80)
        try:
            sock.sendall(head)
            return wl.recv_all(sock)
        finally:
            sock.close()

    def samples(self):
        return wl.metrics(self.topo, METRICS)


class TestRouted(RoutedCase):
    @classmethod
    def start_peers(cls, topo):
        super().start_peers(topo)
        cls.proxy = topo.start_proxy(TARGET="a.test b.test *.wild.test", PORT="80 443",
                                     VERBOSE=1, METRICS_PORT=METRICS, ROUTE_TIMEOUT=1)

    def test_listed_names_reach_their_own_addresses_over_tls(self):
        for name, addr in (("a.test", OUT_V4), ("b.test", OUT2_V4)):
            result = self.curl_tls(name)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout, "%s at %s\n" % (name, addr))
        self.assertRegex(wl.read(self.proxy.log), r"connect 198\.18\.1\.2:\d+ -> 443 -> "
                         r"198\.18\.2\.3:443 \(b\.test: TARGET entry b\.test\)")

    def test_listed_names_reach_their_own_addresses_over_http(self):
        for name, addr in (("a.test", OUT_V4), ("b.test", OUT2_V4)):
            answer = self.http(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" %
                               name.encode())
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK"), answer)
            self.assertTrue(answer.endswith(b"%s at %s\n" % (name.encode(), addr.encode())))
        answer = self.http(b"GET http://b.test/x HTTP/1.1\r\nHost: B.Test.:80\r\n"
                           b"Connection: close\r\n\r\n")
        self.assertTrue(answer.endswith(b"b.test at %s\n" % OUT2_V4.encode()), answer)

    def test_an_unlisted_tls_name_gets_unrecognized_name_and_no_upstream(self):
        before = [served(self.topo, n) for n in self.nginx]
        result = self.curl_tls("c.test")
        self.assertEqual(result.returncode, 35, result.stderr)
        self.assertIn("unrecognized name", result.stderr)
        result = wl.run("ip", "netns", "exec", self.topo.inside, "openssl", "s_client",
                        "-connect", "%s:443" % PX_IN_V4, "-servername", "evil.test",
                        "-CAfile", self.ca, input="", check=False)
        self.assertIn("SSL alert number 112", result.stdout + result.stderr)
        self.assertEqual([served(self.topo, n) for n in self.nginx], before, "nginx saw nothing")
        self.assertGreaterEqual(wl.metric(self.samples(), "whitelist_connections_refused_total",
                                          port=443, reason="not_allowed"), 2)

    def test_tls_without_sni_is_refused(self):
        context = ssl.create_default_context(cafile=self.ca)
        context.check_hostname = False
        sock = self.topo.connect(443)
        try:
            with self.assertRaisesRegex(ssl.SSLError, "UNRECOGNIZED_NAME"):
                context.wrap_socket(sock)  # no server_hostname: no SNI
        finally:
            sock.close()

    def test_http_refusals_say_why(self):
        for head, text in (
                (b"GET / HTTP/1.1\r\nHost: c.test\r\n\r\n", b'"c.test" is not an allowed host'),
                (b"GET / HTTP/1.0\r\n\r\n", b"the request names no usable host"),
                (b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
                 b"the request names two hosts"),
                (b"GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n",
                 b"the request names two hosts"),
                (b"GET / HTTP/1.1\r\nHost: 198.18.2.2\r\n\r\n",
                 b"the request names no usable host")):
            with self.subTest(head=head):
                answer = self.http(head)
                self.assertTrue(answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer)
                self.assertTrue(answer.endswith(b"whitelist: " + text + b"\n"), answer)

    def test_neither_tls_nor_http_is_closed_and_counted(self):
        before = wl.metric(self.samples(), "whitelist_connections_refused_total", port=443,
                           reason="not_tls_or_http")
        sock = self.topo.connect(443)
        sock.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        sock.settimeout(3)
        self.assertEqual(wl.recv_all(sock), b"")
        sock.close()
        self.assertEqual(wl.metric(self.samples(), "whitelist_connections_refused_total",
                                   port=443, reason="not_tls_or_http"), before + 1)

    def test_a_silent_client_holds_its_slot_until_route_timeout(self):
        sock = self.topo.connect(443)
        started = time.monotonic()
        sock.settimeout(5)
        self.assertEqual(wl.recv_all(sock), b"")
        elapsed = time.monotonic() - started
        sock.close()
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3)
        self.assertGreaterEqual(wl.metric(self.samples(), "whitelist_connections_refused_total",
                                          port=443, reason="timeout"), 1)

    def test_a_dribbled_request_is_routed_and_passes_untouched(self):
        request = b"GET / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n"
        sock = self.topo.connect(80)
        for i in range(0, len(request), 3):
            sock.sendall(request[i:i + 3])
            time.sleep(0.01)
        answer = wl.recv_all(sock)
        sock.close()
        self.assertTrue(answer.endswith(b"b.test at %s\n" % OUT2_V4.encode()), answer)

    def test_a_dribbled_client_hello_is_routed(self):
        """The ClientHello in 7-byte pieces (many segments), then the handshake goes on."""
        context = ssl.create_default_context(cafile=self.ca)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="b.test")
        sock = self.topo.connect(443)
        sock.settimeout(5)
        try:
            with self.assertRaises(ssl.SSLWantReadError):
                tls.do_handshake()
            hello = outgoing.read()
            for i in range(0, len(hello), 7):
                sock.sendall(hello[i:i + 7])
                time.sleep(0.002)
            self.assertEqual(pump_request(tls, incoming, outgoing, sock, b"b.test"),
                             b"b.test at %s\n" % OUT2_V4.encode())
        finally:
            sock.close()

    def test_wildcards_cover_subdomains_not_the_domain(self):
        for name, addr in (("x.wild.test", OUT_V4), ("deep.x.wild.test", OUT2_V4)):
            result = self.curl_tls(name)
            self.assertEqual(result.stdout, "%s at %s\n" % (name, addr), result.stderr)
        self.assertIn("unrecognized name", self.curl_tls("wild.test").stderr)
        samples = self.samples()
        self.assertGreaterEqual(wl.metric(samples, "whitelist_routed_total", port=443,
                                          target="*.wild.test"), 2)

    def test_a_wildcard_s_name_may_not_lead_to_a_private_address(self):
        before = wl.metric(self.samples(), "whitelist_connections_total", port=443)
        result = self.curl_tls("private.wild.test")
        self.assertIn("unrecognized name", result.stderr)
        answer = self.http(b"GET / HTTP/1.1\r\nHost: private.wild.test\r\n\r\n")
        self.assertIn(b'"private.wild.test" leads to 127.0.0.1 (loopback', answer)
        samples = self.samples()
        self.assertGreaterEqual(wl.metric(samples, "whitelist_connections_refused_total",
                                          port=443, reason="private_address"), 1)
        # The loopback listener (the proxy's own port) saw no connection from the relay.
        self.assertEqual(wl.metric(samples, "whitelist_connections_total", port=443), before + 1)

    def test_metrics_count_by_entry_and_reason(self):
        samples = self.samples()
        for pattern in ("a.test", "b.test", "*.wild.test"):
            self.assertIn(("whitelist_routed_total", (("port", "443"), ("target", pattern))),
                          samples)


class InsidePeer:
    """A server on the internal network ("inside", behind the proxy), like a database
    there: it counts the connections it gets and answers each "inside peer"."""

    def __init__(self, topo, addrs, port=80):
        self.count = 0
        self.socks = []
        for addr in addrs:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sock = topo.socket_in(topo.inside, family)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((addr, port))
            sock.listen(16)
            self.socks.append(sock)
            threading.Thread(target=self.serve, args=(sock,), daemon=True).start()

    def serve(self, sock):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self.count += 1
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\ninside peer\n")
            conn.close()

    def close(self):
        for sock in self.socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the accept
            except OSError:
                pass
            sock.close()


def healthcheck(topo, proxy):
    return subprocess.run(["ip", "netns", "exec", topo.proxy, wl.HEALTHCHECK], env=proxy.env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


class TestRoutedGuards(RoutedCase):
    """The destination guard on the proxy's own networks, a client's name that leads to
    the proxy, what is counted, and malformed requests answered."""

    @classmethod
    def start_peers(cls, topo):
        super().start_peers(topo)
        cls.peer = InsidePeer(topo, [IN_V4, IN_V6])
        cls.addClassCleanup(cls.peer.close)
        cls.proxy = topo.start_proxy(TARGET="a.test *.wild.test", PORT="80 81 443",
                                     METRICS_PORT=METRICS, RESOLVE_INTERVAL=1)

    def refused(self, reason, port=80):
        return wl.metric(self.samples(), "whitelist_connections_refused_total", port=port,
                         reason=reason)

    def test_a_wildcard_s_name_may_not_lead_into_the_proxy_s_own_networks(self):
        before = self.refused("private_address")
        for name, addr, net in (("inside.wild.test", IN_V4, "198.18.1.0/24"),
                                ("inside6.wild.test", IN_V6, "2001:db8:1::/64")):
            with self.subTest(name=name):
                answer = self.http(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % name.encode())
                self.assertTrue(answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer)
                self.assertIn(('"%s" leads to %s (this proxy\'s network %s)'
                               % (name, addr, net)).encode(), answer)
        self.assertEqual(self.peer.count, 0, "nothing reached the internal network")
        self.assertEqual(self.refused("private_address"), before + 2)
        # The way out (the default route's network) is not guarded.
        self.assertEqual(self.curl_tls("x.wild.test").stdout, "x.wild.test at %s\n" % OUT_V4)

    def test_networks_are_read_again_every_resolve_interval(self):
        self.topo.ip(self.topo.proxy, "addr", "add", LATER_PX + "/24", "dev",
                     self.topo.px_in_dev)
        self.topo.ip(self.topo.inside, "addr", "add", LATER_PEER + "/24", "dev",
                     self.topo.in_dev)
        peer = InsidePeer(self.topo, [LATER_PEER])
        self.addCleanup(peer.close)
        wl.wait_until(lambda: "198.18.5.0/24" in wl.read(self.proxy.log), timeout=5,
                      what="the new network read")
        answer = self.http(b"GET / HTTP/1.1\r\nHost: later.wild.test\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer)
        self.assertEqual(peer.count, 0)

    def test_a_client_s_name_that_leads_to_the_proxy_is_refused_not_a_loop(self):
        """The proxy's own address on the way-out network: no private range, no guarded
        network, but this proxy: the client's doing, not TARGET's."""
        before = self.refused("self_address")
        answer = self.http(b"GET / HTTP/1.1\r\nHost: proxy.wild.test\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer)
        self.assertIn(b'"proxy.wild.test" leads to this proxy itself (%s)'
                      % PX_OUT_V4.encode(), answer)
        self.assertIn("unrecognized name", self.curl_tls("proxy.wild.test").stderr)
        self.assertEqual(self.refused("self_address"), before + 1)
        self.assertEqual(self.refused("self_address", 443), 1)
        self.assertEqual(self.refused("loop") + self.refused("loop", 443), 0)
        result = healthcheck(self.topo, self.proxy)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("is this proxy itself", result.stdout + wl.read(self.proxy.log))

    def test_routed_total_counts_connected_routes_only(self):
        def routed(port, entry):
            return wl.metric(self.samples(), "whitelist_routed_total", port=port, target=entry)
        wild, errors = routed(80, "*.wild.test"), wl.metric(
            self.samples(), "whitelist_upstream_errors_total", port=81)
        self.http(b"GET / HTTP/1.1\r\nHost: inside.wild.test\r\n\r\n")  # refused
        sock = self.topo.connect(81)  # a.test has nothing on 81: the connect fails
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        self.assertEqual(wl.recv_all(sock), b"")
        sock.close()
        self.assertEqual(routed(80, "*.wild.test"), wild)
        self.assertEqual(routed(81, "a.test"), 0)
        self.assertEqual(wl.metric(self.samples(), "whitelist_upstream_errors_total", port=81),
                         errors + 1)
        before = routed(80, "a.test")
        self.http(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        self.assertEqual(routed(80, "a.test"), before + 1)

    def test_malformed_requests_are_answered_400_or_decode_error(self):
        before = self.refused("malformed")
        for what, head in (
                ("userinfo", b"GET http://u:p@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"),
                ("bare CR", b"GET / HTTP/1.1\rHost: a.test\r\n\r\n"),
                ("bare CR in a field", b"GET / HTTP/1.1\r\nHost: a.test\rX: y\r\n\r\n"),
                ("obs-fold", b"GET / HTTP/1.1\r\nHost: a.test\r\n b.test\r\n\r\n"),
                ("space before the colon", b"GET / HTTP/1.1\r\nHost : a.test\r\n\r\n")):
            with self.subTest(what=what):
                answer = self.http(head)
                self.assertTrue(answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer)
                self.assertTrue(answer.endswith(b"whitelist: an HTTP request head that breaks "
                                                b"the format (RFC 9112)\n"), answer)
        sock = self.topo.connect(443)  # a ServerHello where a ClientHello must be
        sock.sendall(b"\x16\x03\x01\x00\x04\x02\x00\x00\x00")
        self.assertEqual(wl.recv_all(sock), b"\x15\x03\x01\x00\x02\x02\x32")  # decode_error
        sock.close()
        self.assertEqual(self.refused("malformed"), before + 5)
        self.assertEqual(self.refused("malformed", 443), 1)


def pump_request(tls, incoming, outgoing, sock, name):
    """Finishes a TLS handshake over sock through memory BIOs, asks for / and
    returns the body."""
    def flush():
        data = outgoing.read()
        if data:
            sock.sendall(data)

    def fill():
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        incoming.write(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            fill()
    tls.write(b"GET / HTTP/1.1\r\nHost: " + name + b"\r\nConnection: close\r\n\r\n")
    flush()
    answer = b""
    while True:
        try:
            chunk = tls.read(65536)
        except ssl.SSLWantReadError:
            try:
                fill()
            except ConnectionError:
                break
            continue
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        if not chunk:
            break
        answer += chunk
    return answer.partition(b"\r\n\r\n")[2]


class TestRoutedThroughNameservers(RoutedCase):
    """PRE_RESOLVE=1: exact entries resolved at start through NAMESERVERS, wildcards'
    names at connection time, cached for their TTL across relays."""

    fresh_topology = True

    def test_exact_at_start_wildcards_cached(self):
        proxy = self.topo.start_proxy(TARGET="a.test b.test *.wild.test", PORT="443",
                                      PRE_RESOLVE=1, NAMESERVERS=OUT_V4, METRICS_PORT=METRICS)
        log = wl.read(proxy.log)
        self.assertIn("resolved a.test to %s" % OUT_V4, log)
        self.assertIn("resolved b.test to %s" % OUT2_V4, log)
        for _ in range(3):
            self.assertEqual(self.curl_tls("x.wild.test").stdout, "x.wild.test at %s\n" % OUT_V4)
        asked = len(re.findall(r"query\[A\] x\.wild\.test", wl.read(self.dns.log)))
        self.assertEqual(asked, 1, "the second and third relays used the shared cache")
        self.assertEqual(self.curl_tls("b.test").stdout, "b.test at %s\n" % OUT2_V4)
        # Each entry's address in use; a wildcard's names resolve per connection.
        samples = self.samples()
        for entry, address in (("a.test", OUT_V4), ("b.test", OUT2_V4), ("*.wild.test", "")):
            self.assertEqual(wl.metric(samples, "whitelist_target_info", target=entry,
                                       address=address), 1, entry)

    def test_healthcheck_probes_the_first_exact_name_and_checks_each(self):
        proxy = self.topo.start_proxy(TARGET="*.wild.test b.test a.test", PORT="80 443",
                                      PRE_RESOLVE=1, NAMESERVERS=OUT_V4, HTTP_HEALTHCHECK=1)
        result = subprocess.run(["ip", "netns", "exec", self.topo.proxy, wl.HEALTHCHECK],
                                env=proxy.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("healthcheck: dns: b.test still resolves to %s" % OUT2_V4, result.stdout)
        self.assertIn("healthcheck: dns: a.test still resolves to %s" % OUT_V4, result.stdout)
        self.assertRegex(result.stdout, r"healthcheck: http: http://b\.test/ through "
                         r"127\.0\.0\.1:80: 200")
        self.assertEqual(served(self.topo, self.nginx[1]), 1, "the probe reached b.test's host")


class TestRoutedEdges(RoutedCase):
    fresh_topology = True

    def test_star_alone_forwards_any_name_through_the_guard(self):
        self.topo.start_proxy(TARGET="*", PORT="443", METRICS_PORT=METRICS)
        self.assertEqual(self.curl_tls("any.other").stdout, "any.other at %s\n" % OUT2_V4)
        self.assertIn("unrecognized name", self.curl_tls("private.wild.test").stderr)

    def test_route_allow_private_lifts_the_guard_not_the_refusal_of_the_proxy(self):
        """A client's name that leads to the proxy (Host: localhost) is refused in its
        protocol and counted as self_address: never the loop guard's event, which would
        make the healthcheck blame TARGET and an autoheal restart the proxy."""
        peer = InsidePeer(self.topo, [IN_V4])
        self.addCleanup(peer.close)
        proxy = self.topo.start_proxy(TARGET="*", PORT="80 443", METRICS_PORT=METRICS,
                                      ROUTE_ALLOW_PRIVATE=1)
        self.assertIn("unrecognized name", self.curl_tls("private.wild.test").stderr)
        answer = self.http(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer)
        self.assertIn(b'"localhost" leads to this proxy itself (127.0.0.1)', answer)
        # The guard is lifted: the internal network is reachable.
        answer = self.http(b"GET / HTTP/1.1\r\nHost: inside.wild.test\r\n\r\n")
        self.assertTrue(answer.endswith(b"inside peer\n"), answer)
        samples = self.samples()
        for port, reason, count in ((443, "private_address", 0), (443, "self_address", 1),
                                    (80, "self_address", 1), (443, "loop", 0), (80, "loop", 0)):
            self.assertEqual(wl.metric(samples, "whitelist_connections_refused_total",
                                       port=port, reason=reason), count, (port, reason))
        result = healthcheck(self.topo, proxy)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("TARGET", result.stdout)

    def test_a_single_target_never_waits_for_the_client(self):
        """One name: the classic mode, no peeking: a server that speaks first is heard at once."""
        wl.start_smtpd(self.topo, port=25, addr=OUT2_V4)
        self.topo.start_proxy(TARGET="b.test", PORT="25")
        sock = self.topo.connect(25)
        sock.settimeout(2)
        started = time.monotonic()
        banner = sock.recv(100)
        sock.close()
        self.assertTrue(banner.startswith(b"220 "), banner)
        self.assertLess(time.monotonic() - started, 0.5)

    def test_an_exact_name_that_is_this_proxy_is_the_loop_guard_s(self):
        """The alias trap in routed mode: the names are the proxy's aliases, no PRE_RESOLVE."""
        with open("/etc/netns/%s/hosts" % self.topo.proxy, "a") as f:
            f.write("%s trap.test\n" % PX_IN_V4)
        proxy = self.topo.start_proxy(TARGET="trap.test a.test", PORT="80", METRICS_PORT=METRICS)
        try:
            answer = self.http(b"GET / HTTP/1.1\r\nHost: trap.test\r\n\r\n")
        except ConnectionResetError:
            answer = b""  # closed at once, its request unread
        self.assertEqual(answer, b"", "closed at once, no 403: nothing else is wrong")
        self.assertIn("port 80: TARGET trap.test is this proxy itself (%s): set PRE_RESOLVE=1"
                      % PX_IN_V4, wl.read(proxy.log))
        self.assertEqual(wl.metric(self.samples(), "whitelist_connections_refused_total",
                                   port=80, reason="loop"), 1)

    def test_udp_cannot_route(self):
        result = subprocess.run([wl.WHITELIST], env=self.topo.proxy_env(
            TARGET="a.test b.test", MODE="udp"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, timeout=5)
        self.assertEqual(result.returncode, 2)
        self.assertIn('TARGET: "a.test b.test": several names or wildcards need MODE=tcp',
                      result.stderr)
