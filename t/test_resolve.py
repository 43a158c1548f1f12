"""PRE_RESOLVE end to end: our DNS client against dnsmasq and hostile servers."""

import os
import re
import signal
import sys
import time
import unittest

import wl
from wl import OUT_V4, OUT2_V4, OUT_V6, PX_IN_V4

HOSTILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile_dns.py")
DEAD_V4 = "198.18.2.9"  # on the outside subnet, but nobody has it: no answer, ever


class TestPreResolve(wl.TopologyCase):
    fresh_topology = True
    # The Docker alias trap: the proxy's own resolver says the target is the proxy.
    hosts = {"target.test": PX_IN_V4}

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)
        many = "".join("198.18.3.%d many.test\n" % i for i in range(1, 101))
        self.dns = wl.start_dnsmasq(self.topo, "%s target.test\n%s" % (OUT_V4, many),
                                    extra=["--cname=alias.test,target.test"])

    def test_alias_trap_avoided_through_nameservers(self):
        proxy = self.topo.start_proxy(TARGET="target.test", PORT="80", PRE_RESOLVE=1,
                                      NAMESERVERS=OUT_V4)
        self.assertEqual(wl.http_get(self.topo)[1], b"hello from %s\n" % OUT_V4.encode())
        self.assertIn("resolved target.test to %s" % OUT_V4, wl.read(proxy.log))

    def test_dead_first_nameserver_is_skipped(self):
        started = time.monotonic()
        proxy = self.topo.start_proxy(TARGET="target.test", PORT="80", PRE_RESOLVE=1,
                                      NAMESERVERS="%s %s" % (DEAD_V4, OUT_V4))
        self.assertLess(time.monotonic() - started, 6, "seconds, not minutes")
        self.assertIn("resolved target.test to %s" % OUT_V4, wl.read(proxy.log))
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")

    def test_cname_is_followed(self):
        proxy = self.topo.start_proxy(TARGET="alias.test", PORT="80", PRE_RESOLVE=1,
                                      NAMESERVERS=OUT_V4)
        self.assertIn("resolved alias.test to %s" % OUT_V4, wl.read(proxy.log))
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")

    def test_a_name_too_big_for_udp_resolves_over_tcp(self):
        proxy = self.topo.start_proxy(TARGET="many.test", PORT="80", PRE_RESOLVE=1,
                                      NAMESERVERS=OUT_V4)
        match = re.search(r"resolved many\.test to 198\.18\.3\.(\d+)", wl.read(proxy.log))
        self.assertIsNotNone(match, wl.read(proxy.log))
        self.assertTrue(1 <= int(match.group(1)) <= 100)

    def run_failing(self, **env):
        started = time.monotonic()
        proc = self.topo.start(self.topo.proxy, [wl.WHITELIST],
                               env=self.topo.proxy_env(PORT="80", PRE_RESOLVE=1, **env))
        status = proc.wait(30)
        # Ending on its own, however it ends, it takes its state file with it.
        self.assertEqual(wl.state_files(proc.pid), [], "state file left behind")
        return status, time.monotonic() - started, wl.read(proc.log)

    def test_unknown_name_ends_the_program_naming_target(self):
        status, elapsed, log = self.run_failing(TARGET="missing.test", NAMESERVERS=OUT_V4)
        self.assertNotEqual(status, 0)
        self.assertLess(elapsed, 3)
        self.assertIn('TARGET: unable to resolve "missing.test"', log)
        self.assertFalse(self.topo.listening(self.topo.proxy, 80))

    def test_no_answering_server_ends_the_program_in_seconds(self):
        status, elapsed, log = self.run_failing(TARGET="target.test", NAMESERVERS=DEAD_V4)
        self.assertNotEqual(status, 0)
        self.assertLess(elapsed, 8)
        self.assertIn('TARGET: unable to resolve "target.test"', log)

    def test_sigterm_during_the_start_up_lookup_stops_at_once(self):
        """Docker's stop while NAMESERVERS do not answer: exit 0 now, not after the lookup."""
        proc = self.topo.start(self.topo.proxy, [wl.WHITELIST], env=self.topo.proxy_env(
            PORT="80", PRE_RESOLVE=1, TARGET="target.test", NAMESERVERS=DEAD_V4))
        time.sleep(0.5)
        self.assertIsNone(proc.poll(), "still asking")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0, wl.read(proc.log))
        self.assertLess(time.monotonic() - started, 0.5)
        self.assertIn("stopped during the lookup of TARGET target.test", wl.read(proc.log))
        self.assertFalse(self.topo.listening(self.topo.proxy, 80))


class TestHostileDns(wl.TopologyCase):
    fresh_topology = True

    def setUp(self):
        super().setUp()
        wl.start_nginx(self.topo)
        self.dns = wl.start_dnsmasq(self.topo, "%s target.test\n" % OUT_V4)

    def start_hostile(self, *args):
        log = os.path.join(self.topo.tmp, "hostile.log")
        open(log, "w").close()
        self.topo.start(self.topo.outside, [sys.executable, HOSTILE, args[0], OUT2_V4, log] +
                        list(args[1:]))
        wl.wait_until(lambda: "%s:53" % OUT2_V4 in wl.run(
            "ip", "netns", "exec", self.topo.outside, "ss", "-lunH").stdout,
            what="hostile responder")
        return log

    def test_wrong_id_and_wrong_question_are_ignored_for_the_true_answer(self):
        log = self.start_hostile("tricky", "198.18.2.66", OUT_V4)
        proxy = self.topo.start_proxy(TARGET="target.test", PORT="80", PRE_RESOLVE=1,
                                      NAMESERVERS=OUT2_V4)
        self.assertIn("resolved target.test to %s" % OUT_V4, wl.read(proxy.log))
        self.assertNotIn("198.18.2.66", wl.read(proxy.log))
        self.assertEqual(wl.read(log).split()[:2], ["target.test", "1"], "it was asked")
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")

    def test_a_refused_a_question_falls_over_to_aaaa(self):
        """A name with only AAAA, at a server that refuses its A question (dnsmasq without
        upstreams does): the AAAA answer counts, as glibc would use it."""
        log = self.start_hostile("refuse-a", OUT_V6)
        proxy = self.topo.start_proxy(TARGET="v6only.test", PORT="80", PRE_RESOLVE=1,
                                      NAMESERVERS=OUT2_V4)
        self.assertIn("resolved v6only.test to %s" % OUT_V6, wl.read(proxy.log))
        asked = [line.split()[1] for line in wl.read(log).splitlines()]
        self.assertEqual(asked[0], "1", "A first")
        self.assertEqual(asked[-1], "28", "then AAAA")
        self.assertEqual(wl.http_get(self.topo)[0], "HTTP/1.1 200 OK")

    def test_self_pointing_name_is_rejected_and_the_next_server_used(self):
        log = self.start_hostile("loop")
        started = time.monotonic()
        proxy = self.topo.start_proxy(TARGET="target.test", PORT="80", PRE_RESOLVE=1,
                                      NAMESERVERS="%s %s" % (OUT2_V4, OUT_V4))
        self.assertLess(time.monotonic() - started, 2, "rejected at once, not timed out")
        self.assertIn("target.test", wl.read(log), "the hostile server was asked first")
        self.assertIn("resolved target.test to %s" % OUT_V4, wl.read(proxy.log))


if __name__ == "__main__":
    unittest.main()
