"""PORT=* in a real engine: the image's final stage (as t/test_container.py
builds it: FROM a local base, RUN dropped, this checkout's binaries) on a base
that also holds `nft` (what the Dockerfile's `apk add nftables` brings on
Alpine), run by podman with --cap-add NET_ADMIN. An app on the internal
network reaches the target on three arbitrary ports through the proxy's one
listener; METRICS_PORT stays the proxy's; `podman stop` ends it with status 0
(the redirect removed on the way); without the capability the container exits
2 and says why. The engine, its lock and its cleanup are t/test_container.py's.
"""
import shutil
import unittest

import wl
import test_container as tc

IN_NET, OUT_NET = "198.19.21.0/24", "198.19.22.0/24"
IN_GW, OUT_GW = "198.19.21.1", "198.19.22.1"
APP_IP, TARGET_IP = "198.19.21.100", "198.19.22.10"
PROXY_IN, PROXY_OUT = "198.19.21.10", "198.19.22.20"
PORTS = (2222, 8081, 50000)
NFT_BASE_IMAGE = "wl-test/proxy-base-nft"
NFT_PROXY_IMAGE = "wl-test/whitelist-nft"


def build_nft_image(engine):
    """The proxy's base plus nft and its libraries, then the Dockerfile's final stage on it."""
    if getattr(engine, "nft_image_built", False):
        return
    nft = shutil.which("nft")
    if not nft:
        wl.cannot_run("needs nft (nftables)")
    engine.build(NFT_BASE_IMAGE, "FROM %s\nCOPY rootfs/ /\n" % tc.PROXY_BASE_IMAGE,
                 lambda rootfs: tc.add_files(rootfs, [nft] + tc.shared_libraries(nft)))
    context = engine.tmp + "/ctx-proxy-nft"
    shutil.rmtree(context, ignore_errors=True)
    with open(wl.TOP + "/Dockerfile") as f:
        containerfile = tc.runtime_containerfile(f.read(), "localhost/" + NFT_BASE_IMAGE, context)
    engine.build(NFT_PROXY_IMAGE, containerfile, context=context)
    engine.nft_image_built = True


class TestEveryPortInPodman(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        tc.require_engine()
        cls.engine = tc.engine()
        cls.addClassCleanup(cls._down)
        build_nft_image(cls.engine)
        e = cls.engine
        cls.inside = e.network("pin", IN_NET, internal=True)
        cls.outside = e.network("pout", OUT_NET)
        serve = " && ".join("mkdir /w%d && echo 'port %d' > /w%d/index.html" % (p, p, p)
                            for p in PORTS)
        serve += " && httpd -p %d -h /w%d && httpd -p %d -h /w%d && exec httpd -f -p %d -h /w%d" % (
            PORTS[0], PORTS[0], PORTS[1], PORTS[1], PORTS[2], PORTS[2])
        cls.target = e.run("ptarget", tc.BUSYBOX_IMAGE, "sh", "-c", serve,
                           networks=["%s:ip=%s" % (cls.outside, TARGET_IP)], dns=OUT_GW)
        cls.app = e.run("papp", tc.BUSYBOX_IMAGE, "sleep", "1000000",
                        networks=["%s:ip=%s" % (cls.inside, APP_IP)], dns=IN_GW)

    @classmethod
    def _down(cls):
        e = cls.engine
        e.remove(*[e.name(role) for role in ("papp", "ptarget", "pproxy", "pnocap")])
        for role in ("pin", "pout"):
            e.remove_network(e.name(role))

    def run_proxy(self, role, options):
        return self.engine.run(role, NFT_PROXY_IMAGE, env=dict(TARGET=TARGET_IP, PORT="*",
                                                               METRICS_PORT="9100"),
                               dns=IN_GW, options=options,
                               networks=["%s:ip=%s" % (self.inside, PROXY_IN),
                                         "%s:ip=%s" % (self.outside, PROXY_OUT)])

    def get(self, port, path="/"):
        result = self.engine.exec(self.app, (
            "printf 'GET %s HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' | timeout %d nc %s %d"
            % (path, tc.CLIENT_TIMEOUT, PROXY_IN, port)))
        return tc.http_body(result.stdout)[1]

    def test_every_port_with_cap_net_admin(self):
        proxy = self.run_proxy("pproxy", ["--cap-add", "NET_ADMIN"])
        self.addCleanup(self.engine.remove, proxy)
        self.engine.wait_proxy(proxy)
        self.assertIn("every tcp port redirected", self.engine.logs(proxy))
        for port in PORTS:
            self.assertEqual(self.get(port), "port %d\n" % port)
        metrics = self.get(9100, "/metrics")
        self.assertIn('whitelist_connections_total{port="*"} 3', metrics)
        status, said = self.engine.healthcheck(proxy)
        self.assertEqual(status, 0, said)
        self.engine.podman("stop", "-t", "10", proxy, timeout=30)
        self.assertEqual(self.engine.inspect(proxy, "{{.State.ExitCode}}"), "0")
        self.assertNotIn("unable to remove", self.engine.logs(proxy))

    def test_without_the_capability_exit_2(self):
        proxy = self.run_proxy("pnocap", [])
        self.addCleanup(self.engine.remove, proxy)
        wl.wait_until(lambda: self.engine.inspect(proxy, "{{.State.Status}}") == "exited",
                      timeout=15, interval=0.2, what="the proxy without NET_ADMIN exiting")
        self.assertEqual(self.engine.inspect(proxy, "{{.State.ExitCode}}"), "2")
        self.assertIn('PORT: "*" needs CAP_NET_ADMIN', self.engine.logs(proxy))


if __name__ == "__main__":
    unittest.main()
