"""POLICY in a real container engine (podman, test_container's Engine): two
apps on the internal network, known to the proxy only by their service names
(network aliases, answered by the engine's DNS), each allowed a different
host; one is restarted with a new address and keeps its policy, within the
30 s in which the proxy looks the names up again. examples/policy.yml is the
same story as a compose file.

Runs under test_container's engine lock (Engine takes /tmp/wl-podman.lock)."""

import unittest

import test_container as tc
import wl

IN_NET, OUT_NET = "198.19.21.0/24", "198.19.22.0/24"
IN_GW, OUT_GW = "198.19.21.1", "198.19.22.1"
DNS_IP, STRIPE_IP, FONTS_IP = "198.19.22.53", "198.19.22.10", "198.19.22.11"
PROXY_IN, PROXY_OUT = "198.19.21.10", "198.19.22.20"
BILLING_IP, BILLING_MOVED, WEB_IP = "198.19.21.100", "198.19.21.150", "198.19.21.101"
HOSTS = {"stripe.example": STRIPE_IP, "fonts.example": FONTS_IP}
POLICY = "billing = stripe.example\nweb = fonts.example"
REFRESH_S = 30  # POLICY_REFRESH_S


class TestContainerPolicy(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        tc.require_engine()
        cls.engine = tc.engine()
        cls.addClassCleanup(cls._down)
        e = cls.engine
        cls.inside = e.network("pol-in", IN_NET, internal=True)
        cls.outside = e.network("pol-out", OUT_NET)
        records = ["--host-record=%s,%s" % item for item in HOSTS.items()]
        e.run("pol-dns", tc.DNSMASQ_IMAGE, "dnsmasq", "--keep-in-foreground", "--no-resolv",
              "--no-hosts", "--user=root", "--pid-file=", "--log-facility=-", "--cache-size=0",
              *records, networks=["%s:ip=%s" % (cls.outside, DNS_IP)], dns=OUT_GW)
        for name, address in HOSTS.items():
            e.run("pol-" + name.split(".")[0], tc.BUSYBOX_IMAGE, "sh", "-c",
                  "mkdir /www && echo 'hello from %s' > /www/index.html && "
                  "exec httpd -f -p 80 -h /www" % name,
                  networks=["%s:ip=%s" % (cls.outside, address)], dns=OUT_GW)
        cls.billing = cls.app("billing", BILLING_IP)
        cls.web = cls.app("web", WEB_IP)
        cls.proxy = e.run(
            "pol-proxy", tc.PROXY_IMAGE, dns=IN_GW,
            env=dict(TARGET=" ".join(HOSTS), PORT="80", PRE_RESOLVE="1", NAMESERVERS=DNS_IP,
                     POLICY=POLICY),
            networks=["%s:ip=%s,%s" % (cls.inside, PROXY_IN,
                                       ",".join("alias=" + name for name in HOSTS)),
                      "%s:ip=%s" % (cls.outside, PROXY_OUT)])
        wl.wait_until(lambda: cls.routing(), timeout=20, interval=0.2, what="the proxy routing")
        for app in (cls.billing, cls.web):
            for name in HOSTS:
                e.wait_resolves(app, name, PROXY_IN)

    @classmethod
    def app(cls, service, address):
        """An app container known on the internal network by its service name."""
        return cls.engine.run("pol-" + service, tc.BUSYBOX_IMAGE, "sleep", "1000000",
                              networks=["%s:ip=%s,alias=%s" % (cls.inside, address, service)],
                              dns=IN_GW)

    @classmethod
    def routing(cls):
        e = cls.engine
        if "routing" in e.logs(cls.proxy):
            return True
        if e.inspect(cls.proxy, "{{.State.Status}}") not in ("running", "created",
                                                             "configured"):
            raise AssertionError("the proxy exited %s:\n%s" % (
                e.inspect(cls.proxy, "{{.State.ExitCode}}"), e.logs(cls.proxy)))
        return False

    @classmethod
    def _down(cls):
        e = cls.engine
        e.remove(*[e.name("pol-" + role) for role in
                   ("proxy", "billing", "web", "dns", "stripe", "fonts")])
        for role in ("pol-in", "pol-out"):
            e.remove_network(e.name(role))

    def get(self, app, host):
        """GET / from app to host (the proxy's alias): (status line, body)."""
        result = self.engine.exec(app, (
            "printf 'GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' | timeout %d nc %s 80"
            % (host, tc.CLIENT_TIMEOUT, host)))
        return tc.http_body(result.stdout)

    def assert_own_hosts_only(self, app, mine, other):
        status, body = self.get(app, mine)
        self.assertIn("200", status, (app, mine, body))
        self.assertEqual(body.strip(), "hello from " + mine)
        status, body = self.get(app, other)
        self.assertIn("403", status, (app, other, body))
        self.assertIn('"%s" is not for this client (POLICY' % other, body)

    def test_each_app_reaches_its_own_host_and_keeps_it_when_moved(self):
        self.assert_own_hosts_only(self.billing, "stripe.example", "fonts.example")
        self.assert_own_hosts_only(self.web, "fonts.example", "stripe.example")
        # billing restarts (a new container) with a new address.
        self.engine.remove(self.billing)
        self.__class__.billing = self.app("billing", BILLING_MOVED)
        self.engine.wait_resolves(self.billing, "stripe.example", PROXY_IN)
        wl.wait_until(lambda: "200" in self.get(self.billing, "stripe.example")[0],
                      timeout=REFRESH_S + 10, interval=1,
                      what="the moved billing reaching stripe.example")
        self.assert_own_hosts_only(self.billing, "stripe.example", "fonts.example")
        self.assert_own_hosts_only(self.web, "fonts.example", "stripe.example")
        self.assertRegex(self.engine.logs(self.proxy),
                         r'POLICY: "billing" is now 198\.19\.21\.150 \(was 198\.19\.21\.100\)')


if __name__ == "__main__":
    unittest.main()
