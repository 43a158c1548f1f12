"""deploy/kubernetes/ played by `podman kube play`, and deploy/swarm/ checked.

What a Kubernetes cluster would do with the manifests, podman 4.3 does here
for the parts it implements: Deployments (one pod each), ConfigMaps, the
secretRef of a Secret, hostAliases, the container's securityContext (user,
read-only root, capabilities), pod sysctls, emptyDir, and the liveness
probe (an exec probe becomes the container's healthcheck). Services and
NetworkPolicies it ignores: their parts are checked as YAML only (the
README in deploy/ says so). The engine is t/test_container.py's (private
namespaces, its own root, runc, cgroupfs, vfs), and so are its images: the
proxy's image from the Dockerfile, busybox for the app and the target,
dnsmasq for the outside DNS.

The networks: an internal one (the app and the proxy's pod) and an outside
one (the proxy's pod, the target, another host, the DNS). What the test
changes in each manifest before playing it, and why:
- replicas 1: podman plays one pod per replica, and static addresses are per pod;
- names prefixed with the engine's tag (its cleanup removes them by name);
- image `busybox` is the local busybox image (no registry here);
- ConfigMap: PRE_RESOLVE=1 and NAMESERVERS = the outside DNS (a pod here
  has no cluster DNS: podman's resolver forwards nowhere);
- hostAliases' IP (the Service's cluster IP) is the proxy pod's own address
  on the internal network (no Services here);
- the Secret: podman 4.3.1 stores a Secret document of a played file as YAML
  and then fails to read it as JSON ("secret whitelist is not valid JSON:
  invalid character 'a'"), so its `data` is created with `podman secret
  create` as the JSON podman reads, and the document is left out.
- explicit-proxy: a hostAlias for the Service's name, as cluster DNS would.

The explicit-proxy pattern uses CONNECT_PORT (SPEC: Explicit proxy mode).
"""

import json
import os
import subprocess
import time
import unittest

import wl
import test_container as tc
from test_container import BUSYBOX_IMAGE, DNSMASQ_IMAGE, PROXY_IMAGE

try:
    import yaml
except ImportError:  # python3-yaml: t/deps.sh installs it; the tests say so
    yaml = None

KUBE = os.path.join(wl.TOP, "deploy", "kubernetes")
ALIAS = os.path.join(KUBE, "alias")
EXPLICIT = os.path.join(KUBE, "explicit-proxy")
STACK = os.path.join(wl.TOP, "deploy", "swarm", "stack.yml")

IN_NET, OUT_NET = "198.19.11.0/24", "198.19.12.0/24"
IN_GW, OUT_GW = "198.19.11.1", "198.19.12.1"
PROXY_IN, PROXY_OUT = "198.19.11.10", "198.19.12.20"
APP_IP = "198.19.11.100"
TARGET_IP, OTHER_IP, DNS_IP = "198.19.12.10", "198.19.12.11", "198.19.12.53"
TARGET_NAME = "fonts.googleapis.com"  # the manifests' TARGET, answered by the outside DNS
TARGET_BODY = "hello from the kube target"
CLIENT_TIMEOUT = 4
ULIMITS_CONF = '\n[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n'
# Every variable the image reads (SPEC.md's table): a ConfigMap may set no other.
KNOWN_VARIABLES = set(wl.IMAGE_ENV) | {"TARGET", "RUN_AS", "CONNECT_PORT", "PROXY_USERS",
                                      "PROXY_USERS_FILE", "POLICY", "LOG_FORMAT"}


def documents(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def of_kind(docs, kind):
    return [doc for doc in docs if doc["kind"] == kind]


def need_yaml():
    if yaml is None:
        wl.cannot_run("python3-yaml is not installed (t/deps.sh installs it)")


class TestManifests(unittest.TestCase):
    """What holds in any cluster, read from the YAML: probes, securityContext,
    the variables, the policies' selectors, the Service the aliases name."""

    @classmethod
    def setUpClass(cls):
        need_yaml()

    def deployments(self):
        for folder in (ALIAS, EXPLICIT):
            for name in sorted(os.listdir(folder)):
                for doc in of_kind(documents(os.path.join(folder, name)), "Deployment"):
                    yield folder, name, doc

    def test_every_container_is_locked_down(self):
        for folder, name, deployment in self.deployments():
            pod = deployment["spec"]["template"]["spec"]
            for container in pod["containers"]:
                with self.subTest(file=os.path.join(os.path.basename(folder), name),
                                  container=container["name"]):
                    context = dict(pod.get("securityContext", {}),
                                   **container["securityContext"])
                    self.assertIs(context["readOnlyRootFilesystem"], True)
                    self.assertIs(context["allowPrivilegeEscalation"], False)
                    if container["image"] == PROXY_IMAGE:
                        # Root until bound, then RUN_AS with nothing (TestKubeAlias sees it).
                        self.assertNotIn("runAsNonRoot", context)
                        self.assertEqual(context["capabilities"], {
                            "drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SETUID", "SETGID"]})
                    else:
                        self.assertIs(context["runAsNonRoot"], True)
                        self.assertNotEqual(context["runAsUser"], 0)
                        self.assertEqual(context["capabilities"], {"drop": ["ALL"]})

    def test_proxy_probes_and_variables(self):
        proxies = [(folder, d) for folder, _, d in self.deployments()
                   if d["spec"]["template"]["spec"]["containers"][0]["image"] == PROXY_IMAGE]
        self.assertEqual(len(proxies), 2)
        for folder, deployment in proxies:
            docs = documents(os.path.join(folder, "whitelist.yaml"))
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            with self.subTest(pattern=os.path.basename(folder)):
                self.assertEqual(container["livenessProbe"]["exec"]["command"], ["healthcheck"])
                config = of_kind(docs, "ConfigMap")[0]["data"]
                secret = of_kind(docs, "Secret")[0]["data"]
                ready_port = container["readinessProbe"]["tcpSocket"]["port"]
                listening = config.get("CONNECT_PORT") or config["PORT"].split()[0]
                self.assertEqual(str(ready_port), listening)
                self.assertLessEqual(set(config) | set(secret), KNOWN_VARIABLES)
                self.assertEqual(config["POLICY"], "")
                self.assertEqual(secret["PROXY_USERS"], "")
                refs = {ref_kind: ref[ref_kind]["name"] for ref in container["envFrom"]
                        for ref_kind in ref}
                self.assertEqual(refs, {"configMapRef": of_kind(docs, "ConfigMap")[0][
                    "metadata"]["name"], "secretRef": of_kind(docs, "Secret")[0][
                    "metadata"]["name"]})
                service = of_kind(docs, "Service")[0]
                self.assertEqual(service["spec"]["selector"],
                                 deployment["spec"]["selector"]["matchLabels"])
                policy = of_kind(docs, "NetworkPolicy")[0]
                self.assertEqual(policy["spec"]["policyTypes"], ["Ingress", "Egress"])

    def test_alias_names_the_service_and_the_target(self):
        docs = documents(os.path.join(ALIAS, "whitelist.yaml"))
        app = of_kind(documents(os.path.join(ALIAS, "app.yaml")), "Deployment")[0]
        aliases = app["spec"]["template"]["spec"]["hostAliases"]
        self.assertEqual(aliases, [{"ip": of_kind(docs, "Service")[0]["spec"]["clusterIP"],
                                    "hostnames": [of_kind(docs, "ConfigMap")[0]["data"][
                                        "TARGET"]]}])

    def test_app_policies_let_out_only_to_the_proxy_and_dns(self):
        for folder in (ALIAS, EXPLICIT):
            docs = documents(os.path.join(folder, "app.yaml"))
            proxy = of_kind(documents(os.path.join(folder, "whitelist.yaml")), "Deployment")[0]
            labels = proxy["spec"]["template"]["metadata"]["labels"]
            app = of_kind(docs, "Deployment")[0]
            policy = of_kind(docs, "NetworkPolicy")[0]
            with self.subTest(pattern=os.path.basename(folder)):
                self.assertEqual(policy["spec"]["podSelector"]["matchLabels"].items()
                                 - app["spec"]["template"]["metadata"]["labels"].items(), set())
                self.assertEqual(policy["spec"]["policyTypes"], ["Egress"])
                first, dns = policy["spec"]["egress"]
                selector = first["to"][0]["podSelector"]["matchLabels"]
                self.assertEqual(selector.items() - labels.items(), set())
                self.assertEqual(dns["to"][0]["podSelector"]["matchLabels"],
                                 {"k8s-app": "kube-dns"})
                self.assertEqual(app["spec"]["template"]["metadata"]["labels"][
                    "whitelist-client"], "true")  # what the proxy's policy admits

    def test_explicit_proxy_app_names_the_service(self):
        docs = documents(os.path.join(EXPLICIT, "whitelist.yaml"))
        service = of_kind(docs, "Service")[0]
        port = [p["port"] for p in service["spec"]["ports"] if p["name"] == "proxy"][0]
        app = of_kind(documents(os.path.join(EXPLICIT, "app.yaml")), "Deployment")[0]
        env = {e["name"]: e["value"] for e in
               app["spec"]["template"]["spec"]["containers"][0]["env"]}
        url = "http://%s:%d" % (service["metadata"]["name"], port)
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            self.assertEqual(env[name], url, name)
        self.assertEqual(str(port), of_kind(docs, "ConfigMap")[0]["data"]["CONNECT_PORT"])


class TestSwarmStack(unittest.TestCase):
    """deploy/swarm/stack.yml: no Swarm here, so what `docker stack deploy`
    reads is checked as YAML."""

    @classmethod
    def setUpClass(cls):
        need_yaml()
        cls.stack = documents(STACK)[0]

    def test_networks_and_alias(self):
        networks = self.stack["networks"]
        self.assertEqual(networks["internal"], {"driver": "overlay", "internal": True})
        self.assertEqual(networks["public"]["driver"], "overlay")
        proxy = self.stack["services"]["fonts_googleapis_proxy"]
        target = proxy["environment"]["TARGET"]
        self.assertEqual(proxy["networks"]["internal"]["aliases"], [target])
        self.assertIn("public", proxy["networks"])
        self.assertEqual(proxy["environment"]["PRE_RESOLVE"], "1")  # the alias is itself
        self.assertEqual(self.stack["services"]["app"]["networks"], ["internal"])

    def test_what_swarm_honours(self):
        for name, service in self.stack["services"].items():
            with self.subTest(service=name):
                self.assertNotIn("restart", service)  # Swarm ignores it
                self.assertNotIn("tmpfs", service)  # ditto: a tmpfs mount instead
                self.assertEqual(service["deploy"]["restart_policy"], {"condition": "any"})
        proxy = self.stack["services"]["fonts_googleapis_proxy"]
        self.assertEqual(proxy["healthcheck"]["test"], ["CMD", "healthcheck"])
        self.assertIn({"type": "tmpfs", "target": "/tmp"}, proxy["volumes"])
        self.assertIs(proxy["read_only"], True)
        self.assertLessEqual(set(proxy["environment"]), KNOWN_VARIABLES)
        self.assertEqual(self.stack["version"], "3.8")


class KubeEngineCase(unittest.TestCase):
    """The engine, the two networks, the target, another host, the DNS."""

    @classmethod
    def setUpClass(cls):
        need_yaml()
        tc.require_engine()
        cls.engine = tc.engine()
        e = cls.engine
        conf = os.path.join(e.tmp, "containers.conf")
        if ULIMITS_CONF not in wl.read(conf):
            # kube play has no --ulimit: the engine's default, for the pods' infra containers too.
            with open(conf, "a") as f:
                f.write(ULIMITS_CONF)
        cls.addClassCleanup(cls._down)
        cls.played = []
        cls.inside = e.network("kin", IN_NET, internal=True)
        cls.outside = e.network("kout", OUT_NET)
        cls.dns = e.run("kdns", DNSMASQ_IMAGE, "dnsmasq", "--keep-in-foreground", "--no-resolv",
                        "--no-hosts", "--user=root", "--pid-file=", "--log-facility=-",
                        "--cache-size=0", "--host-record=%s,%s" % (TARGET_NAME, TARGET_IP),
                        networks=["%s:ip=%s" % (cls.outside, DNS_IP)], dns=OUT_GW)
        serve = ("mkdir /www && echo '%s' > /www/index.html && httpd -p 80 -h /www && "
                 "exec httpd -f -p 443 -h /www")
        cls.target = e.run("ktarget", BUSYBOX_IMAGE, "sh", "-c", serve % TARGET_BODY,
                           networks=["%s:ip=%s" % (cls.outside, TARGET_IP)], dns=OUT_GW)
        cls.other = e.run("kother", BUSYBOX_IMAGE, "sh", "-c", serve % "another host",
                          networks=["%s:ip=%s" % (cls.outside, OTHER_IP)], dns=OUT_GW)

    @classmethod
    def _down(cls):
        e = cls.engine
        for path in reversed(cls.played):
            cls.kube("kube", "down", path)
        e.remove(cls.dns, cls.target, cls.other)
        for network in (cls.inside, cls.outside):
            e.remove_network(network)

    # playing a manifest

    def prepare(self, folder, name, config=None, aliases=None):
        """The manifest as this engine can play it (the module comment lists
        each change); returns (path of the copy, the Deployment's pod name)."""
        e = self.engine
        docs = documents(os.path.join(folder, name))
        for doc in of_kind(docs, "ConfigMap"):
            doc["data"].update(config or {})
        for secret in of_kind(docs, "Secret"):
            path = os.path.join(e.tmp, "secret-%s.json" % secret["metadata"]["name"])
            with open(path, "w") as f:
                json.dump(secret.get("data", {}), f)
            e.podman("secret", "rm", secret["metadata"]["name"], check=False)
            e.podman("secret", "create", secret["metadata"]["name"], path)
        (deployment,) = of_kind(docs, "Deployment")
        deployment["metadata"]["name"] = "%s-%s" % (e.tag, deployment["metadata"]["name"])
        deployment["spec"]["replicas"] = 1
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            if container["image"] == "busybox":
                container["image"] = "localhost/" + BUSYBOX_IMAGE
        if aliases is not None:
            pod["hostAliases"] = aliases
        played = [d for d in docs if d["kind"] in ("ConfigMap", "Deployment")]
        path = os.path.join(e.tmp, "%s-%s-%s" % (e.tag, os.path.basename(folder), name))
        with open(path, "w") as f:
            yaml.safe_dump_all(played, f)
        return path, deployment["metadata"]["name"] + "-pod-0"

    def play(self, path, *networks):
        """podman kube play on our networks ("NAME:ip=ADDRESS" each)."""
        args = ["kube", "play"]
        for network in networks:
            args += ["--network", network]
        result = self.kube(*(args + [path]))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.played.append(path)

    @classmethod
    def kube(cls, *args):
        """podman kube ... from an empty directory: kube play looks for
        ./IMAGE/Containerfile in its working directory (to build the image),
        and this checkout has a file named whitelist."""
        empty = os.path.join(cls.engine.tmp, "kube-wd")
        os.makedirs(empty, exist_ok=True)
        return subprocess.run([cls.engine.podman_path] + list(args), cwd=empty,
                              env=dict(os.environ, PWD=empty), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                              timeout=120)

    def down(self, path):
        """podman kube down: (its exit status, the seconds it took)."""
        start = time.monotonic()
        result = self.kube("kube", "down", path)
        self.played.remove(path)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return time.monotonic() - start

    def exec_in(self, container, script):
        return self.engine.exec(container, script, timeout=CLIENT_TIMEOUT + 30)


class TestKubeAlias(KubeEngineCase):
    """deploy/kubernetes/alias/: the proxy's pod and the app's pod, played."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()

    def test_alias_pattern(self):
        e = self.engine
        proxy_yaml, proxy_pod = self.prepare(
            ALIAS, "whitelist.yaml", config={"PRE_RESOLVE": "1", "NAMESERVERS": DNS_IP})
        self.play(proxy_yaml, "%s:ip=%s" % (self.inside, PROXY_IN),
                  "%s:ip=%s" % (self.outside, PROXY_OUT))
        proxy = proxy_pod + "-whitelist"
        e.wait_proxy(proxy)
        app_yaml, app_pod = self.prepare(ALIAS, "app.yaml", aliases=[
            {"ip": PROXY_IN, "hostnames": [TARGET_NAME]}])
        self.play(app_yaml, "%s:ip=%s" % (self.inside, APP_IP))
        app = app_pod + "-app"

        with self.subTest("the manifest's securityContext, as the engine runs it"):
            self.assertEqual(e.inspect(proxy, "{{.HostConfig.ReadonlyRootfs}}"), "true")
            app_user = e.podman("top", app, "user", "capeff").stdout.split()[3:]
            self.assertEqual(app_user, ["nobody", "none"])  # runAsNonRoot, drop ALL
            rows = e.top(proxy)
            self.assertTrue(rows)
            for row in rows:
                self.assertEqual((row["user"], row["capeff"]), ("nobody", "none"), row)
            env = e.inspect(proxy, "{{json .Config.Env}}")
            for variable in ("TARGET=%s" % TARGET_NAME, "PORT=443", "POLICY=",
                             "PROXY_USERS=", "PRE_RESOLVE=1"):
                self.assertIn(variable, json.loads(env))

        with self.subTest("the app reaches the target by its name, through the proxy"):
            result = self.exec_in(app, (
                "printf 'GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' | timeout %d nc %s 443"
                % (TARGET_NAME, CLIENT_TIMEOUT, TARGET_NAME)))
            status, body = tc.http_body(result.stdout)
            self.assertEqual((status, body.strip()), ("HTTP/1.1 200 OK", TARGET_BODY),
                             result.stdout + result.stderr)

        with self.subTest("and nothing else"):
            for address, port in ((TARGET_IP, 443), (OTHER_IP, 443), (OTHER_IP, 80),
                                  (DNS_IP, 53), (PROXY_OUT, 443)):
                result = self.exec_in(app, "timeout %d nc %s %d </dev/null" %
                                      (CLIENT_TIMEOUT, address, port))
                self.assertNotEqual(result.returncode, 0, "%s:%d" % (address, port))
                self.assertIn("Network is unreachable", result.stderr)
            # The proxy itself on another port: nothing listens there.
            result = self.exec_in(app, "timeout %d nc %s 80 </dev/null" %
                                  (CLIENT_TIMEOUT, PROXY_IN))
            self.assertNotEqual(result.returncode, 0)

        with self.subTest("liveness: the probe is the image's healthcheck, and it passes"):
            check = json.loads(e.inspect(proxy, "{{json .Config.Healthcheck}}"))
            self.assertIn("healthcheck", check["Test"])
            self.assertEqual(check["Interval"], 30 * 10 ** 9)
            status, said = e.healthcheck(proxy)
            self.assertEqual(status, 0, said)

        with self.subTest("podman kube down: status 0, the proxy ends on SIGTERM"):
            self.down(app_yaml)
            took = self.down(proxy_yaml)
            # podman stops with SIGTERM and kills after 10 s: the proxy ended on its own.
            self.assertLess(took, 9)
            names = e.podman("ps", "-a", "--format", "{{.Names}}").stdout.split()
            self.assertNotIn(proxy, names)
            self.assertNotIn(app, names)


class TestKubeExplicitProxy(KubeEngineCase):
    """deploy/kubernetes/explicit-proxy/: apps with HTTPS_PROXY, the proxy's CONNECT_PORT."""

    def test_explicit_proxy_pattern(self):
        e = self.engine
        proxy_yaml, proxy_pod = self.prepare(
            EXPLICIT, "whitelist.yaml", config={"PRE_RESOLVE": "1", "NAMESERVERS": DNS_IP})
        self.play(proxy_yaml, "%s:ip=%s" % (self.inside, PROXY_IN),
                  "%s:ip=%s" % (self.outside, PROXY_OUT))
        proxy = proxy_pod + "-whitelist"
        e.wait_proxy(proxy)
        service = of_kind(documents(os.path.join(EXPLICIT, "whitelist.yaml")),
                          "Service")[0]["metadata"]["name"]
        app_yaml, app_pod = self.prepare(EXPLICIT, "app.yaml", aliases=[
            {"ip": PROXY_IN, "hostnames": [service]}])
        self.play(app_yaml, "%s:ip=%s" % (self.inside, APP_IP))
        app = app_pod + "-app"
        # busybox wget honours http_proxy: an absolute-form GET to CONNECT_PORT.
        # The target serves plain HTTP on 443, PORT's port.
        result = self.exec_in(app, "timeout %d wget -q -O - http://%s:443/" %
                              (CLIENT_TIMEOUT, TARGET_NAME))
        self.assertEqual((result.returncode, result.stdout.strip()), (0, TARGET_BODY),
                         result.stderr)
        result = self.exec_in(app, "timeout %d wget -q -O - http://%s:443/" %
                              (CLIENT_TIMEOUT, OTHER_IP))
        self.assertNotEqual(result.returncode, 0)  # not in TARGET: 403
        status, said = e.healthcheck(proxy)
        self.assertEqual(status, 0, said)
        self.down(app_yaml)
        self.assertLess(self.down(proxy_yaml), 9)


if __name__ == "__main__":
    unittest.main()
