"""Every compose file the documentation shows, examples/*.yml, run in podman as
written: podman-compose brings it up on real podman networks, and the app, on
the internal network, reaches each proxy's hosts on each of its ports through
the proxy, and nothing else.

The engine is t/test_container.py's (its header says how podman runs here and
why); the one change made to an example, for podman-compose 1.0.3 and for what
cannot be built here, is podman_compose_copy(). A new example is picked up
by its file name; what it needs checked beyond what its file says goes in
EXAMPLES. t/test_docs.py checks that every example is linked from the docs and
that every compose file the docs show is one of them.
"""

import glob
import ipaddress
import json
import os
import re
import subprocess
import unittest

import wl
from test_container import (BUSYBOX_IMAGE, CLIENT_TIMEOUT, DNSMASQ_IMAGE, PROXY_IMAGE, engine,
                            http_body, require_engine)
from test_container_ports import NFT_PROXY_IMAGE, build_nft_image


EXAMPLES_DIR = os.path.join(wl.TOP, "examples")
# The example's networks, in the file's order, get these subnets (one example
# runs at a time: each is taken down before the next comes up).
EXAMPLE_SUBNETS = ["198.19.11.0/24", "198.19.12.0/24", "198.19.13.0/24", "198.19.14.0/24"]
STANDIN_FIRST = 10  # host part of the first stand-in's address on the outside network
EXAMPLE_DNS_HOST = 53  # host part of the outside DNS's address there
# PORT=* forwards every port: these stand for "every" (the stand-ins listen on
# them; 22 stays closed there, METRICS_PORT is the proxy's own).
EVERY_PORT_SAMPLE = (21, 2222, 8081, 50000)
# What to check in each example beyond what its file says (every proxy's exact
# TARGET names are reached on each of its PORT entries, as L:T pairs, ranges
# and `*` say, or through CONNECT_PORT; nothing else is; every proxy is
# healthy; a proxy with several entries refuses a name not listed).
# An example not listed here gets those checks alone. Keys:
#   refused: names the app asks a routed proxy for that must get 403.
#   apps:    {service: [hosts it may reach]}; default {"app": every host}.
#   check:   a function (test case) -> None for anything else: it becomes the
#            class's test_the_examples_own_checks.
# The stand-ins for the hosts are busybox httpd on each target port (for
# ftp.yml too: on 21 and on every port of the passive range, which is what the
# proxy must carry; FTP itself through the proxy is t/test_ports.py's, with
# vsftpd).


def check_policy(case):
    """Each app is refused the other's host, by POLICY."""
    for app, mine in (("billing", "api.stripe.com"), ("web", "fonts.googleapis.com")):
        for other in [h for h in case.hosts if h != mine]:
            with case.subTest(app=app, other=other):
                status, line, body, err = case.http(other, 80, app=app)
                case.assertEqual(line, "HTTP/1.1 403 Forbidden", body + err)
                case.assertIn('"%s" is not for this client (POLICY' % other, body)


def check_every_port_metrics(case):
    """METRICS_PORT is served by the proxy itself, not redirected to the target."""
    status, line, body, err = case.http("db.example.com", 9100, path="/metrics")
    case.assertIn(" 200 OK", line, body + err)
    case.assertIn('whitelist_connections_total{port="*"}', body)


def check_explicit_proxy_http_proxy(case):
    """The app's http_proxy, as the file sets it, carries busybox wget's GET."""
    result = case.engine.exec(case.container("app"),
                              "timeout %d wget -q -O - http://fonts.googleapis.com/"
                              % CLIENT_TIMEOUT)
    case.assertEqual((result.returncode, result.stdout.strip()),
                     (0, "stand-in for fonts.googleapis.com"), result.stderr)


EXAMPLES = {
    "one-host.yml": {},
    "compose.yml": {},
    "routed.yml": {"refused": ["api.example.net", "fonts.googleapis.com.evil.example"]},
    "ports-pair.yml": {},
    "ftp.yml": {},
    "every-port.yml": {"check": check_every_port_metrics},
    "policy.yml": {"apps": {"billing": ["api.stripe.com"], "web": ["fonts.googleapis.com"]},
                   "check": check_policy},
    "explicit-proxy.yml": {"check": check_explicit_proxy_http_proxy},
}


def example_files():
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(EXAMPLES_DIR, "*.yml")))


def port_pairs(value):
    """PORT's entries as (port the app connects to, port on TARGET): `443`,
    `8443:443`, `30000-30009` (each to itself, or L-H:T-U), `*` (the sample)."""
    pairs = []
    for entry in str(value or "80 443").split():
        if entry == "*":
            pairs += [(p, p) for p in EVERY_PORT_SAMPLE]
            continue
        listen, _, target = entry.partition(":")
        low, _, high = listen.partition("-")
        to = int((target or low).partition("-")[0])
        pairs += [(p, to + p - int(low)) for p in range(int(low), int(high or low) + 1)]
    return pairs


def proxy_targets(spec):
    """A proxy service's plan: its exact TARGET names, PORT's (listen,
    target) pairs, whether it routes (several names or a wildcard), its
    CONNECT_PORT (None without) and whether PORT is `*`."""
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    names = str(env.get("TARGET", "")).split()
    connect = env.get("CONNECT_PORT")
    return {"names": [n for n in names if "*" not in n], "pairs": port_pairs(env.get("PORT")),
            "routed": len(names) > 1 or "*" in str(names),
            "connect": int(connect) if connect else None,
            "every": str(env.get("PORT", "")).split() == ["*"]}


def podman_compose_copy(doc, nameserver):
    """An example as podman-compose 1.0.3 can run it here: the one place where
    an example is changed. Returns (the changed document, {service: {network:
    [aliases]}} for the test to attach after `up`). Changed, and why:
    - Services whose image cannot be built here (traefik, postgres, the app's
      own image ...) are left out, but the one named `app`, which becomes
      busybox, sleeping; `depends_on` loses what was left out. `busybox`
      is this run's busybox image (the same program), command as written.
    - A proxy with PORT `*` runs the proxy image built on a base that also
      holds `nft` (t/test_container_ports.py): the Dockerfile's `apk add
      nftables` cannot run here; the image is otherwise the same.
    - The proxies get NAMESERVERS = the local dnsmasq (the default is public
      resolvers) and every service gets ulimits (see the module comment).
    - podman-compose 1.0.3 fails on a service's `networks:` written as a
      mapping with values (`KeyError: "default={'aliases': [...]}"`) and has
      no per-network `aliases:` (each container gets only its service name
      as alias): the copy lists each service's networks by name, and the
      test reconnects the service to each network with the file's aliases.
    Not in the file, done by the test: podman-compose 1.0.3 ignores `ipam:`,
    so the test creates the networks under the names compose uses
    (PROJECT_NET), with the file's `internal:` and subnets of its own; and it
    has no `dns:`: `--podman-run-args=--dns=GATEWAY` gives every container
    the internal network's gateway."""
    doc = json.loads(json.dumps(doc))
    services = doc["services"]
    for name in [n for n, s in services.items()
                 if s.get("image") not in (PROXY_IMAGE, "busybox") and n != "app"]:
        del services[name]
    aliases = {}
    for name, service in services.items():
        networks_of = service.get("networks")
        if isinstance(networks_of, dict):
            aliases[name] = {net: (spec or {}).get("aliases") or []
                             for net, spec in networks_of.items()}
            service["networks"] = list(networks_of)
        depends = service.get("depends_on")
        if depends is not None:
            kept = [d for d in depends if d in services]
            if kept:
                service["depends_on"] = kept
            else:
                del service["depends_on"]
        service["ulimits"] = {"nofile": 4096, "nproc": 4096}
        if service.get("image") == PROXY_IMAGE:
            env = service.setdefault("environment", {})
            if isinstance(env, list):  # the `- KEY=value` form
                env[:] = [e for e in env if not e.startswith("NAMESERVERS=")]
                env.append("NAMESERVERS=" + nameserver)
            else:
                env["NAMESERVERS"] = nameserver
            if proxy_targets(service)["every"]:
                service["image"] = "localhost/" + NFT_PROXY_IMAGE
        elif service.get("image") == "busybox":
            service["image"] = "localhost/" + BUSYBOX_IMAGE
    if "app" in services and services["app"]["image"] != "localhost/" + BUSYBOX_IMAGE:
        services["app"]["image"] = "localhost/" + BUSYBOX_IMAGE
        services["app"]["command"] = ["sleep", "1000000"]
    return doc, aliases


class ExampleCase:
    """podman-compose runs one example (the class attribute `example`) as
    written, but for podman_compose_copy(); the font hosts (every proxy's exact
    TARGET names) are busybox httpd stand-ins on the outside network, aliased
    as the hosts, and a dnsmasq there answers their names."""

    example = None

    @classmethod
    def setUpClass(cls):
        require_engine(compose=True)
        cls.engine = engine()
        cls.project = cls.engine.name("ex-" + cls.example[:-len(".yml")])
        cls.compose_file = os.path.join(cls.engine.tmp, cls.project + ".yml")
        cls.addClassCleanup(cls._down)
        cls._up()

    @classmethod
    def _plan(cls):
        """The file, its networks' subnets, the inside and outside networks,
        and each proxy's targets."""
        import yaml
        with open(os.path.join(EXAMPLES_DIR, cls.example)) as f:
            cls.original = yaml.safe_load(f)
        networks = cls.original.get("networks") or {}
        cls.subnets = dict(zip(networks, EXAMPLE_SUBNETS))
        internal = [n for n in networks if (networks[n] or {}).get("internal")]
        outside = [n for n in networks if n not in internal]
        if not internal or not outside:
            raise AssertionError("%s: an example needs an internal network and another"
                                 % cls.example)
        cls.inside, cls.outside = internal[0], outside[0]
        cls.proxies = {name: proxy_targets(spec)
                       for name, spec in cls.original["services"].items()
                       if spec.get("image") == PROXY_IMAGE}
        hosts = sorted({n for plan in cls.proxies.values() for n in plan["names"]})
        cls.hosts = {host: cls.host_ip(STANDIN_FIRST + i) for i, host in enumerate(hosts)}
        cls.dns_ip = cls.host_ip(EXAMPLE_DNS_HOST)
        cls.apps = EXAMPLES.get(cls.example, {}).get("apps") or {"app": sorted(cls.hosts)}

    @classmethod
    def host_ip(cls, host, net=None):
        network = ipaddress.ip_network(cls.subnets[net or cls.outside])
        return str(network.network_address + host)

    @classmethod
    def _up(cls):
        import yaml
        cls._plan()
        e = cls.engine
        cls.doc, cls.aliases = podman_compose_copy(cls.original, cls.dns_ip)
        if any(plan["every"] for plan in cls.proxies.values()):
            build_nft_image(e)
        with open(cls.compose_file, "w") as f:
            yaml.safe_dump(cls.doc, f)
        networks = cls.original["networks"]
        for net, subnet in cls.subnets.items():
            e.network(net, subnet, internal=bool((networks[net] or {}).get("internal")),
                      name="%s_%s" % (cls.project, net))
        outside, gateway = "%s_%s" % (cls.project, cls.outside), cls.host_ip(1)
        records = ["--host-record=%s,%s" % item for item in cls.hosts.items()]
        e.run(cls.project + "-dns", DNSMASQ_IMAGE, "dnsmasq", "--keep-in-foreground",
              "--no-resolv", "--no-hosts", "--user=root", "--pid-file=", "--log-facility=-",
              "--cache-size=0", *records, networks=["%s:ip=%s" % (outside, cls.dns_ip)],
              dns=gateway)
        ports = cls.target_ports()
        serve = " && ".join("httpd -p %d -h /www" % p for p in ports[:-1])
        for host, address in cls.hosts.items():
            e.run("%s-standin-%s" % (cls.project, host.replace(".", "-")), BUSYBOX_IMAGE,
                  "sh", "-c", "mkdir /www && echo 'stand-in for %s' > /www/index.html && "
                  "%s%sexec httpd -f -p %d -h /www" % (host, serve, " && " if serve else "",
                                                     ports[-1]),
                  networks=["%s:ip=%s,alias=%s" % (outside, address, host)], dns=gateway)
        result = cls.compose("up", "-d", timeout=120)
        if result.returncode != 0:
            raise AssertionError("podman-compose up %s: exit %d\n%s%s" % (
                cls.example, result.returncode, result.stdout, result.stderr))
        cls.attach_aliases()
        for service, plan in cls.proxies.items():
            e.wait_proxy(cls.container(service))
            names = cls.aliases.get(service, {}).get(cls.inside, [])
            if plan["connect"]:
                names = [service]  # compose's alias: the apps reach it by its name
            for app in cls.apps:
                for name in names:
                    e.wait_resolves(cls.container(app), name, cls.address(service, cls.inside))

    @classmethod
    def target_ports(cls):
        return sorted({t for plan in cls.proxies.values() for _, t in plan["pairs"]})

    @classmethod
    def compose(cls, *args, timeout=60):
        return subprocess.run(
            ["podman-compose", "--podman-path", cls.engine.podman_path, "-p", cls.project,
             "-f", cls.compose_file, "--podman-run-args=--dns=%s" % cls.host_ip(1, cls.inside)]
            + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, timeout=timeout, cwd=cls.engine.tmp)

    @classmethod
    def address(cls, service, net):
        """A compose container's address on one of the file's networks."""
        template = '{{(index .NetworkSettings.Networks "%s_%s").IPAddress}}' % (cls.project, net)
        return cls.engine.inspect(cls.container(service), template)

    @classmethod
    def container(cls, service):
        return "%s_%s_1" % (cls.project, service)  # podman-compose 1.0.3's naming

    @classmethod
    def attach_aliases(cls):
        """What podman-compose 1.0.3 cannot do: each network's `aliases:` (and
        the service name, the alias compose gives)."""
        for service, networks in cls.aliases.items():
            for net, aliases in networks.items():
                if not aliases:
                    continue
                name = "%s_%s" % (cls.project, net)
                cls.engine.podman("network", "disconnect", name, cls.container(service))
                args = ["network", "connect"]
                for alias in aliases + [service]:
                    args += ["--alias", alias]
                cls.engine.podman(*(args + [name, cls.container(service)]))

    @classmethod
    def _down(cls):
        e = cls.engine
        try:
            cls.compose("down", "-t", "0", timeout=60)
        except subprocess.TimeoutExpired:
            pass
        e.remove(*[n for n in e._ours("container") if cls.project in n])
        for pod in e._ours("pod"):
            if cls.project in pod:
                e.podman("pod", "rm", "-f", pod, check=False)
        for net in getattr(cls, "subnets", {}):
            e.remove_network("%s_%s" % (cls.project, net))

    def http(self, host, port=80, name=None, app="app", path="/"):
        """GET path with Host: name (default host) from the app to host:port."""
        result = self.engine.exec(self.container(app), (
            "printf 'GET %s HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' | timeout %d nc %s %d"
            % (path, name or host, CLIENT_TIMEOUT, host, port)))
        status, body = http_body(result.stdout)
        return result.returncode, status, body, result.stderr

    def connect(self, proxy, host, port, app="app"):
        """CONNECT host:port through the proxy's CONNECT_PORT, then GET / in the
        tunnel: (exit status, the CONNECT answer's line, the GET's status line
        and body, stderr)."""
        result = self.engine.exec(self.container(app), (
            "printf 'CONNECT %s:%d HTTP/1.1\\r\\nHost: %s:%d\\r\\n\\r\\n"
            "GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' | timeout %d nc %s %d"
            % (host, port, host, port, host, CLIENT_TIMEOUT, proxy,
               self.proxies[proxy]["connect"])))
        answer, rest = http_body(result.stdout)
        status, body = http_body(rest)
        return result.returncode, answer, status + "\n" + body, result.stderr

    def reach(self, proxy, host, listen, target, app):
        """host's stand-in reached from app as the proxy's file says: on the
        listen port, or through CONNECT_PORT to the target port."""
        if self.proxies[proxy]["connect"]:
            status, answer, got, err = self.connect(proxy, host, target, app)
            self.assertEqual((status, answer), (0, "HTTP/1.1 200 Connection established"), err)
            line, body = got.split("\n", 1)
        else:
            status, line, body, err = self.http(host, listen, app=app)
        self.assertEqual((status, line, body.strip()),
                         (0, "HTTP/1.1 200 OK", "stand-in for %s" % host), err)

    def test_every_service_kept_runs_on_the_files_networks(self):
        running = self.engine.podman("ps", "--format", "{{.Names}}").stdout.split()
        for service in self.doc["services"]:
            with self.subTest(service=service):
                self.assertIn(self.container(service), running, self.compose("ps").stdout)
        inspect = json.loads(self.engine.podman(
            "network", "inspect", "%s_%s" % (self.project, self.inside)).stdout)[0]
        self.assertTrue(inspect.get("internal"), "the app's network: internal: true")

    def test_app_reaches_each_target_on_each_port(self):
        for proxy, plan in self.proxies.items():
            for app, mine in self.apps.items():
                for host in [n for n in plan["names"] if n in mine]:
                    for listen, target in plan["pairs"]:
                        with self.subTest(app=app, host=host, port=listen, to=target):
                            self.reach(proxy, host, listen, target, app)

    def test_app_reaches_nothing_else(self):
        port = self.target_ports()[0]
        every = {n for plan in self.proxies.values() if plan["every"] for n in plan["names"]}
        for app in map(self.container, self.apps):
            for address, to in [(a, port) for a in self.hosts.values()] + [(self.dns_ip, 53)]:
                with self.subTest(app=app, address=address):
                    result = self.engine.exec(app, "timeout %d nc %s %d </dev/null" %
                                              (CLIENT_TIMEOUT, address, to))
                    self.assertNotEqual(result.returncode, 0)
                    self.assertIn("Network is unreachable", result.stderr)
            for host in [h for h in self.hosts if h not in every]:  # `*`: 22 is forwarded
                with self.subTest(app=app, host=host, port=22):
                    result = self.engine.exec(app, "timeout %d nc %s 22 </dev/null" %
                                              (CLIENT_TIMEOUT, host))
                    self.assertNotEqual(result.returncode, 0, "only PORT is forwarded")

    def test_a_routed_proxy_refuses_a_name_not_listed(self):
        routed = [(proxy, plan) for proxy, plan in self.proxies.items()
                  if plan["routed"] or plan["connect"]]
        if not routed:
            self.skipTest(wl.NOT_APPLICABLE + "no routed proxy in " + self.example)
        refused = EXAMPLES.get(self.example, {}).get("refused") or ["not-listed.example"]
        app = list(self.apps)[0]
        for proxy, plan in routed:
            listen, target = plan["pairs"][0]
            for name in refused:
                with self.subTest(via=proxy, name=name):
                    if plan["connect"]:
                        status, line, body, err = self.connect(proxy, name, target, app)
                    else:
                        via = [n for n in plan["names"] if n in self.apps[app]][0]
                        status, line, body, err = self.http(via, listen, name=name, app=app)
                    self.assertEqual(line, "HTTP/1.1 403 Forbidden", body + err)

    def test_every_proxy_healthy(self):
        for service in self.proxies:
            with self.subTest(service=service):
                status, said = self.engine.healthcheck(self.container(service))
                self.assertEqual(status, 0, said)


# One test class per example file: TestExample_compose, TestExample_routed ...
for _example in example_files():
    _name = "TestExample_" + re.sub(r"\W", "_", _example[:-len(".yml")])
    _body = {"example": _example}
    if "check" in EXAMPLES.get(_example, {}):
        _body["test_the_examples_own_checks"] = EXAMPLES[_example]["check"]
    globals()[_name] = type(_name, (ExampleCase, unittest.TestCase), _body)

