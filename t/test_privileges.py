"""Least privilege: RUN_AS after binding, no_new_privs, and cap_drop ALL."""

import re
import unittest

import wl


def status_field(pid, name):
    match = re.search(r"^%s:\s+(.*)$" % name, wl.read("/proc/%d/status" % pid), re.M)
    return match.group(1).split() if match else None


class TestPrivileges(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)

    def relay_pids(self, proxy):
        sock = self.topo.connect(80)
        listener = wl.listener_of(self.topo, proxy, 80)
        relay = wl.wait_until(lambda: self.topo.children(listener), what="a relay")[0]
        return sock, [proxy.pid, listener, relay]

    def test_root_drops_to_65534_before_any_connection(self):
        proxy = self.topo.start_proxy(PORT="80")
        sock, pids = self.relay_pids(proxy)
        for pid in pids:
            self.assertEqual(status_field(pid, "Uid"), ["65534"] * 4, pid)
            self.assertEqual(status_field(pid, "Gid"), ["65534"] * 4, pid)
            self.assertEqual(status_field(pid, "Groups"), ["65534"], pid)
            self.assertEqual(status_field(pid, "NoNewPrivs"), ["1"], pid)
            self.assertEqual(status_field(pid, "CapEff"), ["0000000000000000"], pid)
        sock.close()
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")

    def test_run_as_is_configurable(self):
        proxy = self.topo.start_proxy(PORT="80", RUN_AS="64123:64124")
        sock, pids = self.relay_pids(proxy)
        self.assertEqual(status_field(pids[2], "Uid"), ["64123"] * 4)
        self.assertEqual(status_field(pids[2], "Gid"), ["64124"] * 4)
        sock.close()

    def test_run_as_root_with_a_group_keeps_the_group(self):
        """RUN_AS=0:1000: root keeps its uid, and takes the gid asked for (not ignored)."""
        proxy = self.topo.start_proxy(PORT="80", RUN_AS="0:1000")
        sock, pids = self.relay_pids(proxy)
        for pid in pids:
            self.assertEqual(status_field(pid, "Uid"), ["0"] * 4, pid)
            self.assertEqual(status_field(pid, "Gid"), ["1000"] * 4, pid)
            self.assertEqual(status_field(pid, "Groups"), ["1000"], pid)
        sock.close()

    def test_cap_drop_all_plus_net_bind_service_still_serves(self):
        """What `cap_drop: [ALL]`, `cap_add: [NET_BIND_SERVICE]` gives a container."""
        wl.need_program("setpriv", "util-linux")
        env = self.topo.proxy_env(PORT="80")
        proxy = self.topo.start(self.topo.proxy, [
            "setpriv", "--bounding-set=-all,+net_bind_service", "--inh-caps=-all",
            wl.WHITELIST], env=env)
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 80), what="port 80")
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")
        self.assertIn("RUN_AS: no CAP_SETUID/CAP_SETGID, staying uid 0", wl.read(proxy.log))
        self.assertEqual(status_field(proxy.pid, "NoNewPrivs"), ["1"])
        self.assertEqual(status_field(proxy.pid, "CapEff"), ["0000000000000400"],
                         "net_bind_service only")


if __name__ == "__main__":
    unittest.main()
