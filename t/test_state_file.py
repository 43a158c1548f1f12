"""The state file the proxy shares with the healthcheck, under hostile conditions:
a /dev/shm with no room (a pod whose browser filled the shared 64 MB), a file
planted by another local user, two proxies side by side in one network
namespace and one /dev/shm (sidecars). See docs/state-file.md."""

import os
import re
import subprocess

import test_routed
import wl
from wl import OUT_V4, OUT2_V4, PX_IN_V4

STRANGER = 4242  # a local user who is neither root nor RUN_AS (65534)
NO_ROOM = ("no room in /dev/shm for the state ({kb} kB): running on anonymous memory, which "
           "the healthcheck cannot read: give /dev/shm more room (e.g. --shm-size)")
ANONYMOUS = ("healthcheck: processes: unhealthy: whitelist (pid {pid}) runs on anonymous "
             "memory: /dev/shm had no room for its state when it started, so it cannot be "
             "checked; give /dev/shm more room (e.g. --shm-size) and restart it")


def tiny_shm(size, fill=0):
    """A wrapper for start_proxy: the proxy in a mount namespace of its own whose
    /dev/shm is a tmpfs of `size`, `fill` bytes of it taken by another program's file."""
    script = "mount -t tmpfs -o size=%s,mode=1777 tmpfs /dev/shm" % size
    if fill:
        script += " && head -c %d /dev/zero >/dev/shm/browser-cache" % fill
    return ("unshare", "--mount", "--propagation", "private", "sh", "-ec",
            script + ' && exec "$@"', "sh")


def healthcheck_beside(proxy, env=None):
    """The healthcheck in the proxy's own mount and network namespaces (its /dev/shm)."""
    return subprocess.run(["nsenter", "--target", str(proxy.pid), "--mount", "--net",
                           wl.HEALTHCHECK], env=env or proxy.env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=30)


def published(pid):
    """The state files named for main pid `pid` in /dev/shm (whatever the naming)."""
    return [os.path.join("/dev/shm", name) for name in os.listdir("/dev/shm")
            if re.fullmatch(r"whitelist-%d(-\w+)?\.state" % pid, name)]


def processes_line(result):
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if line.startswith("healthcheck: processes: ")]
    if len(lines) != 1:
        raise AssertionError("one processes line expected:\n" + result.stdout + result.stderr)
    return lines[0]


class TestNoRoomInShm(test_routed.RoutedCase):
    """No path can SIGBUS: the state's memory is committed at start, or the
    proxy runs on anonymous memory and says so in one line."""

    fresh_topology = True

    def assert_anonymous(self, proxy):
        log = wl.read(proxy.log)
        self.assertEqual(log.count("anonymous memory"), 1, log)
        # The region's size follows the layout (shared.h); the sentence is what counts.
        self.assertRegex(log, re.escape(NO_ROOM).replace(re.escape("{kb}"), r"\d+"))
        result = healthcheck_beside(proxy)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertEqual(processes_line(result), ANONYMOUS.format(pid=proxy.pid))

    def test_two_pages_routed_with_the_wildcards_cache(self):
        """Routed, PRE_RESOLVE=1: every relay of a wildcard's name writes the cache,
        far into the region, where a sparse file's pages were never allocated."""
        proxy = self.topo.start_proxy(wrapper=tiny_shm("8k"), TARGET="a.test *.wild.test",
                                      PORT="443", PRE_RESOLVE=1, NAMESERVERS=OUT_V4,
                                      METRICS_PORT=test_routed.METRICS)
        for name, addr in (("x.wild.test", OUT_V4), ("deep.x.wild.test", OUT2_V4),
                           ("x.wild.test", OUT_V4), ("a.test", OUT_V4)):
            result = self.curl_tls(name)
            self.assertEqual(result.returncode, 0, result.stderr + wl.read(proxy.log))
            self.assertEqual(result.stdout, "%s at %s\n" % (name, addr))
        asked = len(re.findall(r"query\[A\] x\.wild\.test", wl.read(self.dns.log)))
        self.assertEqual(asked, 1, "the second relay of x.wild.test used the shared cache")
        samples = self.samples()
        self.assertEqual(wl.metric(samples, "whitelist_connections_total", port=443), 4)
        self.assertIsNone(proxy.poll(), wl.read(proxy.log))
        self.assert_anonymous(proxy)

    def test_a_tmpfs_another_program_filled(self):
        """64 kB, all but one page taken by someone else's file."""
        wl.start_nginx(self.topo, port=8080, addr=OUT_V4, addr6=None)
        proxy = self.topo.start_proxy(wrapper=tiny_shm("64k", fill=60 * 1024), PORT="8080")
        for _ in range(3):
            self.assertEqual(wl.http_get(self.topo, port=8080)[1],
                             b"hello from %s\n" % OUT_V4.encode())
        self.assertIsNone(proxy.poll(), wl.read(proxy.log))
        self.assert_anonymous(proxy)

    def test_with_room_it_publishes_as_usual(self):
        proxy = self.topo.start_proxy(wrapper=tiny_shm("1m"), PORT="443",
                                      TARGET="a.test *.wild.test", PRE_RESOLVE=1,
                                      NAMESERVERS=OUT_V4)
        self.assertEqual(self.curl_tls("x.wild.test").returncode, 0)
        self.assertNotIn("anonymous memory", wl.read(proxy.log))
        result = healthcheck_beside(proxy)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(processes_line(result), "healthcheck: processes: proxy %d listens "
                         "on tcp 443 (0 connections)" % proxy.pid)


class TestPlantedStateFile(wl.TopologyCase):
    """/dev/shm is writable by every local user (make run on a host): a file
    there that the proxy did not make is never believed."""

    fresh_topology = True

    def plant(self, path, data):
        """path written by STRANGER (mode 0644, as the proxy's own)."""
        subprocess.run(["setpriv", "--reuid", str(STRANGER), "--regid", str(STRANGER),
                        "--clear-groups", "sh", "-c", 'umask 022 && cat >"$1"', "sh", path],
                       input=data, check=True, timeout=10)
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        self.assertEqual(os.stat(path).st_uid, STRANGER)

    def loop_once(self):
        """One client refused by the loop guard: the proxy records the event."""
        sock = self.topo.connect(80)
        try:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            sock.recv(100)
        except ConnectionResetError:
            pass
        finally:
            sock.close()

    def test_a_forged_copy_in_the_proxy_s_place_is_refused(self):
        """The stranger's file holds what the proxy's said before a loop event (a
        forged "healthy"); the proxy's own is not there (a name taken before it
        could publish, or removed)."""
        proxy = self.topo.start_proxy(TARGET=PX_IN_V4, PORT="80")
        [real] = published(proxy.pid)
        with open(real, "rb") as f:
            snapshot = f.read()
        os.unlink(real)
        self.plant(real, snapshot)
        self.loop_once()
        wl.wait_until(lambda: "is this proxy itself" in wl.read(proxy.log), what="the event")
        result = subprocess.run(["ip", "netns", "exec", self.topo.proxy, wl.HEALTHCHECK],
                                env=proxy.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=30)
        self.assertEqual(result.returncode, 1, "a forged state believed:\n" + result.stdout)
        self.assertEqual(processes_line(result), "healthcheck: processes: unhealthy: refused "
                         "%s: owned by uid %d, neither root nor RUN_AS (65534): not the proxy's "
                         "state" % (real, STRANGER))

    def test_a_forged_file_beside_the_proxy_s_own_never_wins(self):
        proxy = self.topo.start_proxy(TARGET=PX_IN_V4, PORT="80")
        [real] = published(proxy.pid)
        with open(real, "rb") as f:
            snapshot = f.read()
        for suffix in ("AAAAAA", "zzzzzz"):  # before and after the real one in any order
            self.plant("/dev/shm/whitelist-%d-%s.state" % (proxy.pid, suffix), snapshot)
        self.loop_once()
        wl.wait_until(lambda: "is this proxy itself" in wl.read(proxy.log), what="the event")
        result = subprocess.run(["ip", "netns", "exec", self.topo.proxy, wl.HEALTHCHECK],
                                env=proxy.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=30)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("healthcheck: loop: unhealthy: port 80: TARGET %s is this proxy itself"
                      % PX_IN_V4, result.stderr)

    def test_the_name_is_not_predictable(self):
        """Two proxies, each with its own random name: nothing to take beforehand."""
        proxy = self.topo.start_proxy(PORT="80")
        [path] = published(proxy.pid)
        self.assertRegex(os.path.basename(path), r"^whitelist-%d-[A-Za-z0-9]{6}\.state$"
                         % proxy.pid)
        info = os.stat(path)
        self.assertEqual((info.st_uid, info.st_mode & 0o7777), (65534, 0o644))


class TestTwoProxiesOneNamespace(wl.TopologyCase):
    """Sidecars: one network namespace, one /dev/shm, different PORTs and TARGETs.
    Each one's healthcheck judges its own proxy, never the other."""

    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo, port=80, addr=OUT_V4, addr6=None)
        wl.start_nginx(self.topo, port=8080, addr=OUT2_V4, addr6=None)

    def healthcheck(self, env):
        return subprocess.run(["ip", "netns", "exec", self.topo.proxy, wl.HEALTHCHECK],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=30)

    def test_each_healthcheck_finds_its_own_proxy(self):
        first = self.topo.start_proxy(PORT="80", TARGET=OUT_V4, HTTP_HEALTHCHECK=1)
        second = self.topo.start_proxy(PORT="8080 8081", TARGET=OUT2_V4)
        for proxy, ports in ((first, "80"), (second, "8080 8081")):
            result = self.healthcheck(proxy.env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(processes_line(result), "healthcheck: processes: proxy %d listens "
                             "on tcp %s (0 connections)" % (proxy.pid, ports))
        # A stopped listener of the second is the second's problem only.
        listener = wl.listener_of(self.topo, second, 8081)
        os.kill(listener, 19)  # SIGSTOP
        try:
            wl.wait_until(lambda: wl.read("/proc/%d/stat" % listener).rsplit(")", 1)[-1]
                          .split()[0] == "T", what="the listener stopped")
            self.assertEqual(self.healthcheck(first.env).returncode, 0)
            result = self.healthcheck(second.env)
            self.assertEqual(processes_line(result), "healthcheck: processes: unhealthy: proxy "
                             "%d: port 8081: its listener is stopped (SIGSTOP)" % second.pid)
        finally:
            os.kill(listener, 18)  # SIGCONT

    def test_the_same_ports_another_target_is_another_proxy(self):
        """The healthcheck of a configuration that does not run says which does."""
        first = self.topo.start_proxy(PORT="80", TARGET=OUT_V4)
        other = dict(first.env, TARGET=OUT2_V4)
        result = self.healthcheck(other)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(processes_line(result), "healthcheck: processes: unhealthy: no proxy "
                         "of this configuration (tcp 80 -> %s) in this network namespace; proxy "
                         "%d there serves tcp 80 -> %s" % (OUT2_V4, first.pid, OUT_V4))


if __name__ == "__main__":
    import unittest
    unittest.main()
