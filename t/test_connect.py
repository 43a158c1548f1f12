"""Explicit proxy mode end to end (CONNECT_PORT): apps that honour HTTPS_PROXY /
HTTP_PROXY reach TARGET's entries through the proxy without any network alias.
Real clients (curl with -x, HTTPS_PROXY and --proxy-user, Python's urllib,
GNU wget, openssl s_client -proxy) against real nginx (HTTP and TLS, a test
CA), names from dnsmasq; every refusal's answer, with the target seeing
nothing."""

import os
import socket
import ssl
import subprocess
import time

import wl
from wl import OUT_V4, OUT2_V4, PX_IN_V4, PX_OUT_V4

PROXY = 3128
METRICS = 9100
NAMES = ["a.test", "b.test", "c.test", "self.test", "x.wild.test", "private.wild.test",
         "proxy.wild.test", "slow.wild.test"]
# slow.wild.test: an address on the outside link where nobody answers ARP (connect hangs).
DNS = ("{a} a.test\n{b} b.test\n{a} c.test\n{px} self.test\n{a} x.wild.test\n"
       "127.0.0.1 private.wild.test\n{px} proxy.wild.test\n198.18.2.9 slow.wild.test\n").format(
           a=OUT_V4, b=OUT2_V4, px=PX_OUT_V4)
PROXY_URL = "http://%s:%d" % (PX_IN_V4, PROXY)

# nginx as the target (wl.start_tls_nginx: "HOST at ADDRESS" on /, HTTP and TLS), with
# /echo showing the head fields a proxy must not pass on, and the request line it got.
ECHO_LOCATION = """location /echo {
            return 200 "request=$request|host=$http_host|pa=$http_proxy_authorization|pc=$http_proxy_connection|conn=$http_connection|secret=$http_x_secret|kept=$http_x_kept\\n";
        }"""


def start_nginx(topo, addr, cert, key):
    return wl.start_tls_nginx(topo, addr, cert, key, locations=ECHO_LOCATION)


class ConnectCase(wl.TopologyCase):
    """nginx at OUT_V4 and OUT2_V4, dnsmasq, a test CA; the proxy per class (proxy_env)."""

    proxy_env = {}

    @classmethod
    def start_peers(cls, topo):
        topo.route_out()  # the way out, as an engine gives it: the guard lets wildcards use it
        cls.ca, cert, key = wl.make_test_ca(topo, NAMES)
        cls.nginx = [start_nginx(topo, OUT_V4, cert, key), start_nginx(topo, OUT2_V4, cert, key)]
        cls.dns = wl.start_dnsmasq(topo, DNS)
        env = dict(TARGET="a.test b.test self.test *.wild.test", PORT="80 443",
                   CONNECT_PORT=PROXY, METRICS_PORT=METRICS, ROUTE_TIMEOUT=1, VERBOSE=1)
        env.update(cls.proxy_env)
        cls.proxy = topo.start_proxy(**env)
        wl.wait_until(lambda: topo.listening(topo.proxy, PROXY), what="CONNECT_PORT")

    def inside(self, *argv, env=None, **kwargs):
        """A client program in the inside namespace, with only the environment given."""
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.topo.tmp}
        base.update(env or {})
        return wl.run("ip", "netns", "exec", self.topo.inside, *argv, env=base, check=False,
                      timeout=30, **kwargs)

    def curl(self, *args, env=None):
        return self.inside("curl", "-sS", "--max-time", "8", "--cacert", self.ca, *args, env=env)

    def served(self):
        return [len(wl.read(n.access_log).splitlines()) for n in self.nginx]

    def refused(self, reason):
        return wl.metric(wl.metrics(self.topo, METRICS), "whitelist_connections_refused_total",
                         port=PROXY, reason=reason)

    def exchange(self, data, timeout=5):
        """Sends data to CONNECT_PORT in one write; everything that comes back."""
        sock = self.topo.connect(PROXY, timeout=timeout)
        try:
            sock.sendall(data)
            return wl.recv_all(sock)
        finally:
            sock.close()


def tls_through(sock, ca, name, pending=b"", request=None):
    """A TLS session over sock (a tunnel already open, pending: bytes already read
    from it); sends request, returns the whole answer."""
    context = ssl.create_default_context(cafile=ca)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=name)
    incoming.write(pending)

    def pump(step):
        while True:
            try:
                return step()
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    sock.sendall(outgoing.read())
                data = sock.recv(65536)
                if not data:
                    incoming.write_eof()
                incoming.write(data)
            finally:
                if outgoing.pending:
                    sock.sendall(outgoing.read())

    pump(tls.do_handshake)
    tls.write(request or b"GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % name.encode())
    sock.sendall(outgoing.read())
    answer = b""
    while True:
        try:
            chunk = pump(lambda: tls.read(65536))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        if not chunk:
            break
        answer += chunk
    return answer


def client_hello(name):
    """The first flight of a TLS client for name, and the SSLObject that made it."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class TestConnectClients(ConnectCase):
    """Real clients through CONNECT and absolute-form, each the way its users set it."""

    def test_curl_x_tunnels_tls_to_each_listed_name(self):
        for name, addr in (("a.test", OUT_V4), ("b.test", OUT2_V4)):
            result = self.curl("-x", PROXY_URL, "https://%s/" % name)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout, "%s at %s\n" % (name, addr))
        self.assertRegex(wl.read(self.proxy.log), r"connect 198\.18\.1\.2:\d+ -> 3128 -> "
                         r"198\.18\.2\.3:443 \(CONNECT b\.test: TARGET entry b\.test\)")

    def test_curl_honours_https_proxy(self):
        result = self.curl("https://b.test/", env={"HTTPS_PROXY": PROXY_URL})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "b.test at %s\n" % OUT2_V4)

    def test_python_urllib_honours_https_proxy(self):
        code = ("import ssl, sys, urllib.request\n"
                "context = ssl.create_default_context(cafile=sys.argv[1])\n"
                "print(urllib.request.urlopen('https://a.test/', context=context,"
                " timeout=8).read().decode(), end='')\n")
        result = self.inside("python3", "-c", code, self.ca, env={"HTTPS_PROXY": PROXY_URL})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "a.test at %s\n" % OUT_V4)

    def test_wget_honours_https_proxy(self):
        result = self.inside("wget", "-q", "-O", "-", "--timeout=8", "--tries=1",
                             "--ca-certificate=" + self.ca, "https://b.test/",
                             env={"https_proxy": PROXY_URL})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "b.test at %s\n" % OUT2_V4)

    def test_openssl_s_client_proxy(self):
        result = self.inside("openssl", "s_client", "-quiet", "-proxy", "%s:%d" % (PX_IN_V4, PROXY),
                             "-connect", "a.test:443", "-servername", "a.test", "-CAfile", self.ca,
                             "-verify_return_error",
                             input="GET / HTTP/1.0\r\nHost: a.test\r\n\r\n")
        self.assertIn("a.test at %s\n" % OUT_V4, result.stdout, result.stderr)

    def test_curl_http_proxy_absolute_form(self):
        result = self.curl("-x", PROXY_URL, "http://b.test/")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "b.test at %s\n" % OUT2_V4)
        result = self.curl("http://a.test/echo?x=1", env={"http_proxy": PROXY_URL})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("request=GET /echo?x=1 HTTP/1.1|host=a.test|pa=|pc=|conn=close|",
                      result.stdout)

    def test_absolute_form_passes_no_proxy_field_to_the_server(self):
        answer = self.exchange(
            b"GET http://A.test/echo HTTP/1.1\r\nHost: b.test\r\nProxy-Authorization: Basic "
            b"dTpw\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive, X-Secret\r\n"
            b"X-Secret: s\r\nX-Kept: k\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK"), answer)
        self.assertTrue(answer.endswith(b"request=GET /echo HTTP/1.1|host=a.test|pa=|pc=|"
                                        b"conn=close|secret=|kept=k\n"), answer)

    def test_a_request_body_relays_untouched(self):
        body = os.urandom(3000).hex().encode()
        answer = self.exchange(b"POST http://a.test/echo HTTP/1.1\r\nContent-Length: %d\r\n"
                               b"\r\n%s" % (len(body), body))
        self.assertIn(b"request=POST /echo HTTP/1.1|host=a.test", answer)

    def test_an_eager_client_s_hello_behind_the_head_reaches_the_target(self):
        context = ssl.create_default_context(cafile=self.ca)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="a.test")
        with self.assertRaises(ssl.SSLWantReadError):
            tls.do_handshake()
        sock = self.topo.connect(PROXY)
        try:
            # The head and the ClientHello in one write, as clients that do not wait.
            sock.sendall(b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n" +
                         outgoing.read())
            got = b""
            while b"\r\n\r\n" not in got:
                got += sock.recv(65536)
            head, _, rest = got.partition(b"\r\n\r\n")
            self.assertEqual(head, b"HTTP/1.1 200 Connection established")
            incoming.write(rest)
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        sock.sendall(outgoing.read())
                    incoming.write(sock.recv(65536))
            if outgoing.pending:
                sock.sendall(outgoing.read())
            tls.write(b"GET / HTTP/1.0\r\nHost: a.test\r\n\r\n")
            sock.sendall(outgoing.read())
            answer = b""
            while True:
                try:
                    chunk = tls.read(65536)
                except ssl.SSLWantReadError:
                    data = sock.recv(65536)
                    if not data:
                        break
                    incoming.write(data)
                    continue
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    break
                if not chunk:
                    break
                answer += chunk
            self.assertTrue(answer.endswith(b"a.test at %s\n" % OUT_V4.encode()), answer)
        finally:
            sock.close()

    def test_a_head_dribbled_one_byte_at_a_time(self):
        sock = self.topo.connect(PROXY)
        try:
            for byte in b"GET http://b.test/ HTTP/1.1\r\nX-A: 1\r\n\r\n":
                sock.sendall(bytes([byte]))
                time.sleep(0.005)
            answer = wl.recv_all(sock)
        finally:
            sock.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK"), answer)
        self.assertTrue(answer.endswith(b"b.test at %s\n" % OUT2_V4.encode()), answer)

    def test_wildcards_pass_the_destination_guard(self):
        result = self.curl("-x", PROXY_URL, "https://x.wild.test/")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "x.wild.test at %s\n" % OUT_V4)

    def test_healthcheck_checks_the_connect_listener(self):
        result = wl.run("ip", "netns", "exec", self.topo.proxy, wl.HEALTHCHECK,
                        env=self.proxy.env, check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("and CONNECT_PORT 3128", result.stdout + result.stderr)


class TestConnectRefusals(ConnectCase):
    """Every refusal: its code, a body naming host:port and why, counted by reason,
    and nothing opened upstream (nginx's access logs stay as they were)."""

    def assert_refused(self, head, status, text, reason):
        before, counted = self.served(), self.refused(reason)
        answer = self.exchange(head)
        self.assertTrue(answer.startswith(b"HTTP/1.1 " + status + b"\r\n"), answer)
        self.assertIn(b"\r\nwhitelist: " + text, answer)
        self.assertEqual(self.served(), before, "the target saw nothing")
        wl.wait_until(lambda: self.refused(reason) == counted + 1, what="counted as " + reason)
        return answer

    def test_400_for_anything_but_a_proxy_request(self):
        for head, text in ((b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
                            b"a target in origin-form, as servers get it"),
                           (client_hello("a.test"), b"not an HTTP request"),
                           (b"CONNECT a.test HTTP/1.1\r\n\r\n", b"CONNECT needs host:port"),
                           (b"GET https://a.test/ HTTP/1.1\r\n\r\n",
                            b"only http:// targets (https goes through CONNECT)"),
                           (b"\x00\x01garbage", b"not an HTTP request")):
            with self.subTest(head=head[:20]):
                self.assert_refused(head, b"400 Bad Request", b"not a proxy request: " + text,
                                    "bad_request")

    def test_400_for_a_head_over_16_kib(self):
        head = b"CONNECT a.test:443 HTTP/1.1\r\n" + b"X: " + b"a" * 17000 + b"\r\n\r\n"
        self.assert_refused(head, b"400 Bad Request", b"not a proxy request: no end of the "
                            b"request head within 16384 bytes", "bad_request")

    def test_403_for_a_host_not_in_target(self):
        self.assert_refused(b"CONNECT c.test:443 HTTP/1.1\r\n\r\n", b"403 Forbidden",
                            b"c.test:443 is not an allowed host (TARGET)", "not_allowed")
        # An address is allowed only when listed exactly: "*.wild.test" covers no literal.
        self.assert_refused(b"CONNECT 198.18.2.2:443 HTTP/1.1\r\n\r\n", b"403 Forbidden",
                            b"198.18.2.2:443 is not an allowed host", "not_allowed")
        self.assert_refused(b"GET http://c.test/ HTTP/1.1\r\n\r\n", b"403 Forbidden",
                            b"c.test:80 is not an allowed host", "not_allowed")

    def test_403_for_a_port_not_in_port(self):
        self.assert_refused(b"CONNECT a.test:22 HTTP/1.1\r\n\r\n", b"403 Forbidden",
                            b"a.test:22 is refused: port 22 is not one of PORT's",
                            "port_not_allowed")
        result = self.curl("-x", PROXY_URL, "https://a.test:8443/")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("403", result.stderr)

    def test_403_when_a_wildcard_leads_to_a_private_address_or_the_proxy(self):
        self.assert_refused(b"CONNECT private.wild.test:443 HTTP/1.1\r\n\r\n", b"403 Forbidden",
                            b"private.wild.test:443 leads to 127.0.0.1 (loopback (127.0.0.0/8)), "
                            b"where a wildcard may not lead",
                            "private_address")
        # A wildcard's name is the client's choice: to the proxy it is refused as
        # self_address, never the loop guard's event (that is TARGET's, the operator's).
        self.assert_refused(b"CONNECT proxy.wild.test:443 HTTP/1.1\r\n\r\n", b"403 Forbidden",
                            b"proxy.wild.test:443 leads to this proxy itself", "self_address")

    def test_the_loop_guard_refuses_a_connect_to_the_proxy_itself(self):
        # self.test is listed exactly and resolves to the proxy's own address.
        self.assert_refused(b"CONNECT self.test:443 HTTP/1.1\r\n\r\n", b"403 Forbidden",
                            b"self.test:443 leads to this proxy itself", "loop")

    def test_502_when_the_name_does_not_resolve(self):
        self.assert_refused(b"CONNECT nowhere.wild.test:443 HTTP/1.1\r\n\r\n",
                            b"502 Bad Gateway", b"nowhere.wild.test:443 could not be reached",
                            "unreachable")

    def test_504_when_connecting_takes_longer_than_route_timeout(self):
        started = time.monotonic()
        self.assert_refused(b"CONNECT slow.wild.test:443 HTTP/1.1\r\n\r\n",
                            b"504 Gateway Timeout", b"slow.wild.test:443 did not answer within "
                            b"ROUTE_TIMEOUT (1 s)", "connect_timeout")
        self.assertLess(time.monotonic() - started, 3)

    def test_a_silent_client_is_closed_after_route_timeout(self):
        counted = self.refused("timeout")
        sock = self.topo.connect(PROXY)
        started = time.monotonic()
        sock.sendall(b"CONNECT a.te")
        self.assertEqual(wl.recv_all(sock), b"")
        elapsed = time.monotonic() - started
        sock.close()
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3)
        wl.wait_until(lambda: self.refused("timeout") == counted + 1, what="counted")

    def test_refusals_are_logged_once_a_second_per_reason(self):
        for _ in range(5):
            self.exchange(b"CONNECT c.test:443 HTTP/1.1\r\n\r\n")
        lines = [line for line in wl.read(self.proxy.log).splitlines()
                 if "c.test:443 is not an allowed host" in line]
        self.assertGreaterEqual(len(lines), 1)
        self.assertLessEqual(len(lines), 3)


class TestConnectUsers(ConnectCase):
    """PROXY_USERS and PROXY_USERS_FILE: Basic credentials on CONNECT_PORT."""

    @classmethod
    def start_peers(cls, topo):
        users = os.path.join(topo.tmp, "proxy-users")
        with open(users, "w") as f:
            f.write("# from a file\nbob:pass word\n")
        os.chmod(users, 0o644)
        cls.proxy_env = {"PROXY_USERS": "alice:secret", "PROXY_USERS_FILE": users}
        super().start_peers(topo)

    def test_right_credentials_pass(self):
        result = self.curl("-x", PROXY_URL, "--proxy-user", "alice:secret", "https://a.test/")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "a.test at %s\n" % OUT_V4)
        result = self.curl("https://b.test/",
                           env={"HTTPS_PROXY": "http://bob:pass%%20word@%s:%d" % (PX_IN_V4, PROXY)})
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_wrong_or_missing_credentials_get_407_and_nothing_upstream(self):
        for extra in (["--proxy-user", "alice:wrong"], ["--proxy-user", "mallory:secret"], []):
            with self.subTest(extra=extra):
                before, counted = self.served(), self.refused("proxy_auth")
                result = self.curl("-x", PROXY_URL, *extra, "https://a.test/")
                self.assertNotEqual(result.returncode, 0)
                self.assertIn("407", result.stderr)
                self.assertEqual(self.served(), before)
                wl.wait_until(lambda: self.refused("proxy_auth") == counted + 1, what="counted")
        answer = self.exchange(b"CONNECT a.test:443 HTTP/1.1\r\n\r\n")
        self.assertIn(b'\r\nProxy-Authenticate: Basic realm="whitelist"\r\n', answer)
        self.assertTrue(answer.startswith(b"HTTP/1.1 407 Proxy Authentication Required\r\n"))

    def test_the_healthcheck_probes_through_connect_port_with_credentials(self):
        before = self.served()
        env = dict(self.proxy.env, HTTP_HEALTHCHECK="1")
        result = wl.run("ip", "netns", "exec", self.topo.proxy, wl.HEALTHCHECK, env=env,
                        check=False)
        said = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, said)
        self.assertRegex(said, r"http://a\.test/ through 127\.0\.0\.1:3128 \(CONNECT_PORT\): 200")
        self.assertRegex(said, r"http://a\.test/ through 127\.0\.0\.1:80: 200")
        self.assertEqual(sum(self.served()), sum(before) + 2, "both probes reached nginx")

    def test_no_credential_reaches_a_server(self):
        result = self.curl("-x", PROXY_URL, "--proxy-user", "alice:secret", "http://a.test/echo")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("|pa=|pc=|conn=close|", result.stdout)


class TestConnectUserPolicy(ConnectCase):
    """POLICY's user:NAME rules: the PROXY_USERS name a CONNECT client gave decides."""

    proxy_env = {"PROXY_USERS": "alice:a1 bob:b2",
                 "POLICY": "user:alice = a.test; user:bob = b.test"}

    def connect_as(self, user, host):
        return self.curl("-x", PROXY_URL, "--proxy-user", user, "https://%s/" % host)

    def test_each_user_reaches_its_own_host_only(self):
        self.assertEqual(self.connect_as("alice:a1", "a.test").stdout, "a.test at %s\n" % OUT_V4)
        self.assertEqual(self.connect_as("bob:b2", "b.test").stdout, "b.test at %s\n" % OUT2_V4)
        for user, host in (("alice:a1", "b.test"), ("bob:b2", "a.test")):
            with self.subTest(user=user, host=host):
                before, counted = self.served(), self.refused("policy")
                result = self.connect_as(user, host)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn("403", result.stderr)
                self.assertEqual(self.served(), before, "nothing reached nginx")
                wl.wait_until(lambda: self.refused("policy") == counted + 1, what="counted")

    def test_an_entry_no_rule_names_stays_open_to_every_user(self):
        result = self.curl("-x", PROXY_URL, "--proxy-user", "bob:b2", "https://x.wild.test/")
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_a_rule_for_a_user_that_is_not_in_proxy_users_exits_2(self):
        env = self.topo.proxy_env(TARGET="a.test", PORT="443", CONNECT_PORT=PROXY + 1,
                                  PROXY_USERS="alice:a1", POLICY="user:carol = a.test")
        result = wl.run("ip", "netns", "exec", self.topo.proxy, wl.WHITELIST, env=env,
                        check=False, timeout=10)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("POLICY", result.stderr)
        self.assertIn("carol", result.stderr)


class TestConnectSlots(ConnectCase):
    """MAX_CONNECTIONS=1 on CONNECT_PORT: a client that never finishes its head holds
    the one slot no longer than ROUTE_TIMEOUT."""

    proxy_env = {"MAX_CONNECTIONS": 1}

    def test_a_slow_client_holds_no_slot_past_route_timeout(self):
        slow = self.topo.connect(PROXY)
        try:
            slow.sendall(b"CONNECT a.test:443 HTTP/1.1\r\n")  # and never the end
            started = time.monotonic()
            result = self.curl("-x", PROXY_URL, "https://a.test/")
            elapsed = time.monotonic() - started
        finally:
            slow.close()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "a.test at %s\n" % OUT_V4)
        self.assertLess(elapsed, 4)


class TestConnectClassic(ConnectCase):
    """One TARGET (an IP literal, the classic mode): CONNECT reaches it by its address,
    and the proxy's own address is the loop guard's."""

    @classmethod
    def start_peers(cls, topo):
        cls.proxy_env = {"TARGET": OUT2_V4}
        super().start_peers(topo)

    def test_the_listed_address_is_reached_and_names_are_not(self):
        result = self.curl("-x", PROXY_URL, "http://%s/" % OUT2_V4)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "%s at %s\n" % (OUT2_V4, OUT2_V4))
        answer = self.exchange(b"CONNECT b.test:443 HTTP/1.1\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer)


class TestConnectLoop(ConnectCase):
    """TARGET is the proxy's own address: CONNECT to it is the loop guard's."""

    @classmethod
    def start_peers(cls, topo):
        cls.proxy_env = {"TARGET": PX_IN_V4}
        super().start_peers(topo)

    def test_connect_to_the_proxy_s_own_address_is_refused(self):
        before = self.served()
        answer = self.exchange(b"CONNECT %s:443 HTTP/1.1\r\n\r\n" % PX_IN_V4.encode())
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 Forbidden\r\n"), answer)
        self.assertIn(b"198.18.1.1:443 leads to this proxy itself", answer)
        self.assertEqual(self.served(), before)
        self.assertGreaterEqual(self.refused("loop"), 1)


if __name__ == "__main__":
    import unittest
    unittest.main()
