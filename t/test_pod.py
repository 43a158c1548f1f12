"""Two whitelist containers in one podman pod, as Kubernetes runs sidecars: one
network namespace, one IPC namespace and so one /dev/shm, a pid namespace each
(both proxies are PID 1). Each one's healthcheck must judge its own proxy, and
neither may take or remove the other's state file (docs/state-file.md).

The engine, its images and helpers are t/test_container.py's (it takes the
machine's podman lock itself)."""

import os
import unittest

import test_container
import wl

POD_NET = "198.19.44.0/24"
POD_GW, TARGET_IP, POD_IP, CLIENT_IP = "198.19.44.1", "198.19.44.10", "198.19.44.20", \
    "198.19.44.30"
# role: (PORT, what the target answers on the first port)
PROXIES = {"front": ("80", "port 80"), "back": ("8080 8081", "port 8080")}


class TestTwoProxiesInOnePod(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        test_container.require_engine()
        cls.engine = test_container.engine()
        cls.addClassCleanup(cls._down)
        e = cls.engine
        cls.net = e.network("podnet", POD_NET)
        serve = " && ".join("mkdir -p /www%s && echo 'port %s' >/www%s/index.html && "
                            "httpd -p %s -h /www%s" % (p, p, p, p, p) for p in (80, 8080, 8081))
        cls.target = e.run("podtarget", test_container.BUSYBOX_IMAGE, "sh", "-c",
                           serve + " && exec sleep 1000000",
                           networks=["%s:ip=%s" % (cls.net, TARGET_IP)], dns=POD_GW)
        cls.client = e.run("podclient", test_container.BUSYBOX_IMAGE, "sleep", "1000000",
                           networks=["%s:ip=%s" % (cls.net, CLIENT_IP)], dns=POD_GW)
        cls.pod = e.name("pod")
        # The pod's infra container takes the engine's default limits (pod create has
        # no --ulimit): the same as every container here gets (ULIMITS).
        conf = os.path.join(e.tmp, "containers.conf")
        if "default_ulimits" not in wl.read(conf):
            with open(conf, "a") as f:
                f.write('\n[containers]\ndefault_ulimits = ["nofile=4096:4096", '
                        '"nproc=4096:4096"]\n')
        # The infra container holds the pod's namespaces: busybox's sleep (the
        # default pause image is not on this machine, and nothing is pulled).
        e.podman("pod", "create", "--name", cls.pod, "--network",
                 "%s:ip=%s" % (cls.net, POD_IP), "--dns", POD_GW, "--infra-image",
                 "localhost/" + test_container.BUSYBOX_IMAGE, "--infra-command",
                 "sleep 1000000")  # split at spaces
        cls.proxies = {role: cls.start(role) for role in PROXIES}

    @classmethod
    def start(cls, role):
        ports, _ = PROXIES[role]
        args = ["run", "-d", "--name", cls.engine.name(role), "--pod", cls.pod]
        args += test_container.ULIMITS
        for key, value in (("PORT", ports), ("TARGET", TARGET_IP), ("MAX_CONNECTIONS", "10"),
                           ("HTTP_HEALTHCHECK", "1")):
            args += ["-e", "%s=%s" % (key, value)]
        cls.engine.podman(*(args + [test_container.PROXY_IMAGE]))
        container = cls.engine.name(role)
        cls.engine.wait_proxy(container)
        return container

    @classmethod
    def _down(cls):
        e = cls.engine
        e.remove(*[e.name(role) for role in list(PROXIES) + ["podclient", "podtarget"]])
        e.podman("pod", "rm", "-f", cls.pod, check=False, timeout=30)
        e.remove_network(cls.net)

    def http(self, port):
        result = self.engine.exec(self.client, "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | "
                                  "timeout %d nc %s %d" % (test_container.CLIENT_TIMEOUT,
                                                           POD_IP, port))
        return test_container.http_body(result.stdout)[1]

    def assert_healthy(self, role):
        status, said = self.engine.healthcheck(self.proxies[role])
        self.assertEqual(status, 0, said)
        self.assertIn("healthcheck: processes: proxy 1 listens on tcp %s (" % PROXIES[role][0],
                      said)

    def state_files(self, role):
        out = self.engine.exec(self.proxies[role], "ls /dev/shm").stdout.split()
        return sorted(name for name in out if name.startswith("whitelist-"))

    def test_1_one_dev_shm_two_states_each_healthy(self):
        self.assertEqual(self.state_files("front"), self.state_files("back"),
                         "the pod's containers share /dev/shm")
        self.assertEqual(len(self.state_files("front")), 2, self.state_files("front"))
        for role in PROXIES:
            self.assert_healthy(role)
        for port, body in ((80, "port 80\n"), (8080, "port 8080\n"), (8081, "port 8081\n")):
            self.assertEqual(self.http(port), body)

    def test_2_one_stops_the_other_stays_healthy(self):
        self.engine.podman("stop", "-t", "10", self.proxies["back"])
        self.assertEqual(len(self.state_files("front")), 1, "the stopped one took only its own")
        self.assert_healthy("front")
        self.assertEqual(self.http(80), "port 80\n")
        self.engine.podman("start", self.proxies["back"])
        wl.wait_until(lambda: self.engine.healthcheck(self.proxies["back"])[0] == 0,
                      timeout=20, interval=0.5, what="the restarted proxy healthy")
        self.assert_healthy("back")
        self.assert_healthy("front")


if __name__ == "__main__":
    unittest.main()
