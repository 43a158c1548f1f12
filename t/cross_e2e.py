#!/usr/bin/env python3
"""A small end-to-end run of another architecture's build under qemu-user
(t/cross.sh, `make cross`): one TCP relay, one UDP session, the healthcheck.

Usage: t/cross_e2e.py DIR QEMU, DIR holding that build's whitelist and
healthcheck, QEMU the user-mode emulator (qemu-aarch64-static) that runs them
(binfmt_misc need not be registered: every program is started through it).
The topology, peers and helpers are t/wl.py's, as the other e2e tests use them.

The proxy is started through a symbolic link to QEMU named `whitelist`: the
kernel names a process after the file it executes, so an emulator started by
hand would be called qemu-aarch64-st, where binfmt_misc or an arm64 machine
gives the name `whitelist` that the healthcheck looks for (shared.h,
SHARED_MAIN_COMM). The link gives the process the name it has there.
"""

import atexit
import os
import shutil
import socket
import sys
import tempfile
import unittest

import wl
from wl import OUT_V4, PX_IN_V4

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_peer.py")
QEMU = None  # set by main()
PROXY_QEMU = None  # a link to QEMU named whitelist (main)


def healthcheck(topo, proxy):
    """The healthcheck under QEMU in the proxy's namespace and environment."""
    return wl.run("ip", "netns", "exec", topo.proxy, QEMU, wl.HEALTHCHECK, env=proxy.env,
                  check=False, timeout=60)


class TestCross(wl.TopologyCase):
    @classmethod
    def start_peers(cls, topo):
        wl.start_nginx(topo)
        log = os.path.join(topo.tmp, "udp-peer.log")
        topo.start(topo.outside, [sys.executable, PEER, "echo", OUT_V4, "5353", log])
        wl.wait_until(lambda: topo.listening(topo.outside, 5353, "udp"), what="udp peer")

    def test_tcp_relay(self):
        self.topo.start_proxy(wrapper=(PROXY_QEMU,), PORT="80", VERBOSE=1)
        status, body = wl.http_get(self.topo)
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(body, b"hello from %s\n" % OUT_V4.encode())

    def test_udp_session(self):
        proxy = self.topo.start_proxy(wrapper=(PROXY_QEMU,), wait_ports=False, MODE="udp",
                                      PORT="5353")
        wl.wait_until(lambda: self.topo.listening(self.topo.proxy, 5353, "udp") or
                      proxy.poll() is not None, what="the UDP listener")
        sock = self.topo.socket_in(self.topo.inside, socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(5)
        sock.connect((PX_IN_V4, 5353))
        for i in range(3):
            sock.send(b"datagram %d" % i)
            self.assertEqual(sock.recv(100), b"datagram %d" % i)
        sock.close()

    def test_healthcheck(self):
        proxy = self.topo.start_proxy(wrapper=(PROXY_QEMU,), PORT="80", HTTP_HEALTHCHECK=1)
        result = healthcheck(self.topo, proxy)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.topo.stop(proxy)
        result = healthcheck(self.topo, proxy)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)


def main():
    global QEMU, PROXY_QEMU
    if len(sys.argv) != 3:
        sys.exit("usage: t/cross_e2e.py DIR QEMU")
    build, QEMU = os.path.abspath(sys.argv[1]), shutil.which(sys.argv[2])
    if not QEMU:
        sys.exit("cross_e2e: %s is not installed (t/deps.sh cross)" % sys.argv[2])
    links = tempfile.mkdtemp(prefix="wl-cross-")
    atexit.register(shutil.rmtree, links, True)
    PROXY_QEMU = os.path.join(links, "whitelist")
    os.symlink(QEMU, PROXY_QEMU)
    wl.WHITELIST = os.path.join(build, "whitelist")
    wl.HEALTHCHECK = os.path.join(build, "healthcheck")
    suite = unittest.TestLoader().loadTestsFromTestCase(TestCross)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)


if __name__ == "__main__":
    main()
