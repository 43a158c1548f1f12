"""What routed mode checks, and what it cannot route, as docs/routed-mode.md
says it: only a connection's first request is checked (a keep-alive request
for another host on the same connection reaches the first one's server), and
PostgreSQL's SSLRequest, sent before any ClientHello, is refused at once.
(A protocol where the server speaks first waits ROUTE_TIMEOUT:
test_routed's test_a_silent_client_holds_its_slot_until_route_timeout.)"""

import time

import wl
from test_routed import METRICS, RoutedCase
from wl import OUT_V4

# PostgreSQL's SSLRequest: length 8, code 80877103 (1234 << 16 | 5679).
SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
ROUTE_TIMEOUT = 5


class TestRoutedScope(RoutedCase):
    @classmethod
    def start_peers(cls, topo):
        super().start_peers(topo)
        cls.proxy = topo.start_proxy(TARGET="a.test b.test", PORT="80 443",
                                     METRICS_PORT=METRICS, ROUTE_TIMEOUT=ROUTE_TIMEOUT)

    def test_only_the_first_request_of_a_connection_is_checked(self):
        # c.test is not listed, and lives at a.test's address (DNS in test_routed).
        alone = self.http(b"GET / HTTP/1.1\r\nHost: c.test\r\nConnection: close\r\n\r\n")
        self.assertTrue(alone.startswith(b"HTTP/1.1 403 Forbidden"), alone)
        answer = self.http(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"
                           b"GET / HTTP/1.1\r\nHost: c.test\r\nConnection: close\r\n\r\n")
        self.assertIn(b"a.test at %s\n" % OUT_V4.encode(), answer)
        self.assertTrue(answer.endswith(b"c.test at %s\n" % OUT_V4.encode()),
                        "the second request reached a.test's server: " + repr(answer))

    def test_postgresql_s_sslrequest_is_refused_at_once(self):
        before = wl.metric(self.samples(), "whitelist_connections_refused_total", port=443,
                           reason="not_tls_or_http")
        sock = self.topo.connect(443)
        started = time.monotonic()
        try:
            sock.sendall(SSL_REQUEST)
            sock.settimeout(ROUTE_TIMEOUT + 5)
            self.assertEqual(wl.recv_all(sock), b"")
        finally:
            sock.close()
        self.assertLess(time.monotonic() - started, ROUTE_TIMEOUT - 1, "at once, not at timeout")
        self.assertEqual(wl.metric(self.samples(), "whitelist_connections_refused_total",
                                   port=443, reason="not_tls_or_http"), before + 1)
