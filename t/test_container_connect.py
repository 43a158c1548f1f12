"""docs/explicit-proxy.md's compose example (examples/explicit-proxy.yml) in a
real engine: an app on an `internal: true` network with HTTPS_PROXY /
HTTP_PROXY set, one whitelist reached by its service name, no network alias
for any target host. The engine and its images are t/test_container.py's
(Engine takes /tmp/wl-podman.lock itself).

Run with podman directly, each service as compose would start it: the file's
image, environment and networks; the service name as the container's alias
on each network (what compose gives), ulimits (see t/test_container.py).
Changed from the file, and why:
- `db` (postgres) is left out: its image cannot be built here, and the story
  does not need it (the app's depends_on goes with it). `app` is busybox,
  sleeping; its clients are busybox wget (which honours http_proxy) and nc.
- The hosts are busybox httpd stand-ins on the public network, aliased as
  fonts.googleapis.com and fonts.gstatic.com (aardvark-dns answers them),
  serving plain HTTP on 80 and 443 (the tunnel carries any bytes).
- DNS: Docker's embedded resolver answers every network's names in every
  container; podman's aardvark-dns answers per network at its gateway, so
  the whitelist asks the public network's gateway, the app the internal one's.
"""

import os
import unittest

import test_container as tc
import wl

EXAMPLE = os.path.join(wl.TOP, "examples", "explicit-proxy.yml")
IN_NET, OUT_NET = "198.19.21.0/24", "198.19.22.0/24"
IN_GW, OUT_GW = "198.19.21.1", "198.19.22.1"
HOSTS = {"fonts.googleapis.com": "198.19.22.10", "fonts.gstatic.com": "198.19.22.11"}
ADDRESSES = {("whitelist", "default"): "198.19.21.10", ("whitelist", "public"): "198.19.22.20",
             ("app", "default"): "198.19.21.100"}


def example():
    import yaml
    with open(EXAMPLE) as f:
        return yaml.safe_load(f)


class TestExplicitProxyExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tc.require_engine()
        try:
            import yaml  # noqa: F401
        except ImportError:
            wl.cannot_run("python3-yaml is missing (t/deps.sh installs it)")
        cls.engine = tc.engine()
        cls.addClassCleanup(cls._down)
        cls._up()

    @classmethod
    def _up(cls):
        e = cls.engine
        cls.doc = doc = example()
        services = doc["services"]
        cls.networks = {name: e.network("x" + name, subnet, name=e.name("x" + name),
                                        internal=bool((doc["networks"][name] or {})
                                                      .get("internal")))
                        for name, subnet in (("default", IN_NET), ("public", OUT_NET))}
        for host, address in HOSTS.items():
            e.run("xstandin-" + host.replace(".", "-"), tc.BUSYBOX_IMAGE, "sh", "-c",
                  "mkdir /www && echo 'stand-in for %s' > /www/index.html && "
                  "httpd -p 443 -h /www && exec httpd -f -p 80 -h /www" % host,
                  networks=["%s:ip=%s,alias=%s" % (cls.networks["public"], address, host)],
                  dns=OUT_GW)
        proxy = services["whitelist"]
        cls.proxy = e.run("xwhitelist", tc.PROXY_IMAGE, env=proxy["environment"], dns=OUT_GW,
                          networks=cls.service_networks("whitelist", proxy))
        app = services["app"]
        cls.app = e.run("xapp", tc.BUSYBOX_IMAGE, "sleep", "1000000",
                        env=app["environment"], dns=IN_GW,
                        networks=cls.service_networks("app", app))
        wl.wait_until(lambda: "explicit proxy" in e.logs(cls.proxy), timeout=15, interval=0.2,
                      what="the whitelist serving CONNECT_PORT")
        e.wait_resolves(cls.app, "whitelist", ADDRESSES[("whitelist", "default")])

    @classmethod
    def service_networks(cls, service, spec):
        """The file's networks of a service, with the service name as alias."""
        networks = spec.get("networks") or ["default"]
        return ["%s:ip=%s,alias=%s" % (cls.networks[net], ADDRESSES[(service, net)], service)
                for net in networks]

    @classmethod
    def _down(cls):
        e = cls.engine
        e.remove(*[e.name(role) for role in ["xapp", "xwhitelist"] + [
            "xstandin-" + host.replace(".", "-") for host in HOSTS]])
        for net in cls.networks.values():
            e.remove_network(net)

    def in_app(self, script):
        return self.engine.exec(self.app, script)

    def test_the_file_uses_no_alias_and_sets_the_proxy_variables(self):
        services = self.doc["services"]
        for name, service in services.items():
            networks = service.get("networks") or {}
            if isinstance(networks, dict):
                for spec in networks.values():
                    self.assertFalse((spec or {}).get("aliases"), name)
        env = services["app"]["environment"]
        for variable in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            self.assertEqual(env[variable], "http://whitelist:3128")
        self.assertEqual(str(services["whitelist"]["environment"]["CONNECT_PORT"]), "3128")

    def test_the_app_reaches_a_host_through_http_proxy(self):
        # busybox wget sends "GET http://fonts.googleapis.com/" to $http_proxy.
        result = self.in_app("timeout %d wget -q -O - http://fonts.googleapis.com/" %
                             tc.CLIENT_TIMEOUT)
        self.assertEqual((result.returncode, result.stdout.strip()),
                         (0, "stand-in for fonts.googleapis.com"), result.stderr)

    def test_the_app_tunnels_through_connect(self):
        result = self.in_app(
            "printf 'CONNECT fonts.gstatic.com:443 HTTP/1.1\\r\\nHost: fonts.gstatic.com:443"
            "\\r\\n\\r\\nGET / HTTP/1.0\\r\\nHost: fonts.gstatic.com\\r\\n\\r\\n' | "
            "timeout %d nc whitelist 3128" % tc.CLIENT_TIMEOUT)
        # podman exec's output comes through text mode: CRLF reads as LF.
        self.assertTrue(result.stdout.replace("\r\n", "\n").startswith(
            "HTTP/1.1 200 Connection established\n\n"), result.stdout + result.stderr)
        self.assertIn("stand-in for fonts.gstatic.com", result.stdout)

    def test_the_app_reaches_nothing_else(self):
        result = self.in_app(
            "printf 'CONNECT example.org:443 HTTP/1.1\\r\\n\\r\\n' | timeout %d nc whitelist "
            "3128" % tc.CLIENT_TIMEOUT)
        self.assertTrue(result.stdout.startswith("HTTP/1.1 403 Forbidden"), result.stdout)
        for address in HOSTS.values():
            result = self.in_app("timeout %d nc %s 80 </dev/null" % (tc.CLIENT_TIMEOUT, address))
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("Network is unreachable", result.stderr)

    def test_the_whitelist_is_healthy(self):
        status, said = self.engine.healthcheck(self.proxy)
        self.assertEqual(status, 0, said)
        self.assertIn("CONNECT_PORT 3128", said)


if __name__ == "__main__":
    unittest.main()
