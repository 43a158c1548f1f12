"""The image in a real container engine: podman, real images, real networks.

The README's story, run for real: an `internal` network holds the app and the
proxy, which carries the target's name as a network alias; a normal network
holds the target, the proxy and an outside DNS (dnsmasq) that answers the
target's name. Every image is built here FROM scratch with `podman build`:

- busybox (Debian's busybox-static) for the app and the targets: sh, httpd,
  nc, nslookup;
- dnsmasq, the outside DNS: the host's binary, the libraries ldd lists and
  the loader, on top of busybox;
- the proxy: the FINAL stage of the project's Dockerfile, verbatim (ENV,
  HEALTHCHECK, STOPSIGNAL, ENTRYPOINT, CMD, LABEL, its COPY of entrypoint.sh),
  with its FROM replaced by a local base (busybox for /bin/sh, plus the
  libraries that ldd lists for ./healthcheck, and the loader), its RUN lines
  dropped (they install those libraries on Alpine) and its `COPY --from=build`
  sources replaced by this checkout's ./whitelist and ./healthcheck. A change to
  the Dockerfile's contract is seen by the engine, not by a parser.

How podman runs here (Debian 12's podman 4.3.1, runc 1.1.5, netavark and
aardvark-dns 1.4; each point measured on this machine):

- `--runtime runc`: crun 1.8 refuses the host's hybrid cgroups ("cgroups in
  hybrid mode not supported, drop all controllers from cgroupv2").
- `--cgroup-manager cgroupfs`: there is no systemd ("systemd not running on
  this host, cannot use systemd cgroups manager").
- `--storage-driver vfs`: plain directories, nothing mounted that a killed run
  could leave behind (overlay worked too on this ext4). vfs copies every layer
  and every container's root, so the images stay tiny: busybox 2 MB, the proxy
  23 MB, each built once per run.
- `--ulimit nofile=N:N --ulimit nproc=N:N` on every run: podman's defaults for
  root (nofile 1048576, nproc 4194304) exceed this machine's hard limits, which
  may not be raised (no CAP_SYS_RESOURCE): runc fails with "error setting
  rlimit type 7: operation not permitted".
- Its own --root, --runroot, --tmpdir, --volumepath, --network-config-dir,
  CONTAINERS_CONF and CONTAINERS_REGISTRIES_CONF (no search registries: a short
  name is never looked up outside) in a temp dir, removed afterwards.
- netavark needs `iptables` (Debian's iptables-nft): without it every
  container with a network fails ("netavark (exit code 1): No such file or
  directory").
- Rootful netavark keeps its IPAM database and aardvark-dns's configuration in
  /run/containers/networks, and runc its state in /run/runc, for every podman
  on the machine, whatever --root says. So every podman command runs inside
  one private mount and network namespace, held by an `unshare` process: a
  tmpfs on /run; the bridges, the containers and aardvark-dns exist only there,
  and nothing can leave (that namespace has no route out).
- aardvark-dns forwards the names it does not know (AAAA queries included) to
  the resolvers in its /etc/resolv.conf, the host's. The engine's namespace
  has its own /etc/resolv.conf, `nameserver 127.0.0.1`, where nothing listens:
  nothing asks the host's resolvers, even if it could reach them.
- netavark 1.4 leaves its bridge's MAC address to the kernel, which changes it
  whenever a container joins or leaves: the others then send to a stale
  gateway MAC, and aardvark-dns (on the gateway) did not answer them for 5 to
  20 s, in about one start in three. Each network gets a first container, an
  anchor, and its bridge's MAC is then set explicitly, which the kernel keeps
  (Engine.pin_bridge). Containers also get `--dns-option timeout:1
  attempts:4`, and the tests wait until a new container's alias resolves.
- Every container gets `--dns` = its network's gateway (aardvark-dns): without
  it podman appends the host's nameservers to the container's resolv.conf.
- `podman build --format docker`: the OCI format has no HEALTHCHECK ("HEALTHCHECK
  is not supported for OCI image format and will be ignored").
- No systemd, so no HEALTHCHECK timer: every run and stop of the proxy logs
  "unable to get systemd connection to add healthchecks" (harmless;
  `--health-interval disable` does not silence it when the HEALTHCHECK comes
  from the image). The tests run `podman healthcheck run` themselves.
- `--read-only` also mounts tmpfs on /tmp, /var/tmp and /run in podman
  (`--read-only-tmpfs`, default true), unlike Docker: Docker's `read_only: true`
  plus `tmpfs: [/tmp]` is `--read-only --read-only-tmpfs=false --tmpfs /tmp`.
- busybox as PID 1 ignores SIGTERM: helpers are removed with `rm -f -t 0`.
  busybox-static's nc has no -u and its wget crashes with -T: TCP clients are
  nc; the UDP target is the DNS server, asked by nslookup through the proxy.
- podman-compose 1.0.3 fails on a service's `networks:` written as a mapping
  with values (the examples' aliases), and has no per-network `aliases:`,
  `ipam:` subnets or `dns:`; t/test_examples.py's podman_compose_copy() says
  what the test does instead.

Without root or the tools (t/deps.sh installs them) the tests are skipped and
say why; under CI (CI set) or E2E_REQUIRE=1 that is a failure (wl.cannot_run).
Everything started here is removed by name on every path (atexit, SIGTERM).
"""

import atexit
import fcntl
import glob
import importlib.util
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import wl

PODMAN_HELPER_DIRS = ("/usr/lib/podman", "/usr/libexec/podman", "/usr/local/libexec/podman",
                      "/usr/local/lib/podman")
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
GRACE = 5  # seconds the proxy gives open connections after SIGTERM (docs/signals-and-logs.md)
PROXY_IMAGE = "whitelist"  # the docs' image name: examples/*.yml use it as written
BUSYBOX_IMAGE = "wl-test/busybox"
DNSMASQ_IMAGE = "wl-test/dnsmasq"
PROXY_BASE_IMAGE = "wl-test/proxy-base"
# What the runtime stage's `COPY --from=build` brings in, by file name: this checkout's build.
LOCAL_BUILD = {"whitelist": wl.WHITELIST, "healthcheck": wl.HEALTHCHECK}
# Every network's subnet: inside 198.18.0.0/15, in the engine's own network namespace.
SUBNET_POOL = "198.19.128.0/17"
HEALTHCHECK_TIMER_NOISE = re.compile(
    r"^.*unable to get systemd connection to \w+ healthchecks.*\n?", re.M)
LOOP_LINE = ("port 80: TARGET {name} is this proxy itself ({address}): "
             "set PRE_RESOLVE=1 so that NAMESERVERS are asked")


def is_static(path):
    result = subprocess.run(["ldd", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    return result.returncode != 0 and "not a dynamic executable" in result.stdout


def engine_problem(compose=False):
    """Why the engine cannot run here (None when it can)."""
    if not wl.is_root():
        return "needs root: podman runs rootful here (real networks and aliases)"
    tools = ["podman", "runc", "nsenter", "unshare", "iptables", "dnsmasq", "ldd", "busybox"]
    if compose:
        tools.append("podman-compose")
    missing = [tool for tool in tools if not shutil.which(tool)]
    for helper in ("netavark", "aardvark-dns"):
        if not any(os.access(os.path.join(d, helper), os.X_OK) for d in PODMAN_HELPER_DIRS):
            missing.append(helper)
    if shutil.which("busybox") and not is_static(shutil.which("busybox")):
        missing.append("busybox-static (the busybox on PATH is linked dynamically)")
    if compose and importlib.util.find_spec("yaml") is None:
        missing.append("python3-yaml")  # podman-compose's own dependency; the test reads YAML
    if missing:
        return "no container engine: missing %s (t/deps.sh installs them as root)" % \
            ", ".join(missing)
    return None


def require_engine(compose=False):
    """Skips, or fails under CI or E2E_REQUIRE=1 (wl.cannot_run), when the engine cannot run."""
    problem = engine_problem(compose)
    if problem:
        wl.cannot_run(problem)


# --- building images from this machine's files ---

def shared_libraries(binary):
    """The files the loader maps for binary: ldd's paths, and the loader itself."""
    out = wl.run("ldd", binary).stdout
    paths = re.findall(r"=> (/\S+)", out) + re.findall(r"^\s*(/\S+) \(0x", out, re.M)
    return sorted(set(paths))


def add_files(rootfs, paths):
    """Copies each file to the same path under rootfs (the file, not a symlink)."""
    for path in paths:
        target = os.path.join(rootfs, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(path, target)


def busybox_rootfs(rootfs):
    """busybox-static with one symlink per applet, /tmp, and root and nobody."""
    busybox = shutil.which("busybox")
    os.makedirs(os.path.join(rootfs, "bin"))
    shutil.copy2(busybox, os.path.join(rootfs, "bin/busybox"))
    for applet in wl.run(busybox, "--list").stdout.split():
        if applet != "busybox":
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    os.makedirs(os.path.join(rootfs, "etc"))
    with open(os.path.join(rootfs, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:"
                "/bin/false\n")
    with open(os.path.join(rootfs, "etc/group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    os.makedirs(os.path.join(rootfs, "tmp"))
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)


def dockerfile_instructions(text):
    """[(KEYWORD, raw text)] in order: each instruction's lines as written
    (continuations and the comments inside them kept); blank lines and comments
    between instructions come as ("", line)."""
    out, pending = [], []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            out.append(("", line))
            continue
        pending.append(line)
        if stripped.startswith("#") or not stripped:
            continue  # inside a continuation: Docker skips it and goes on
        if not re.search(r"\\[ \t]*$", line.rstrip("\r\n")):
            body = "".join(pending)
            out.append((body.split(None, 1)[0].upper(), body))
            pending = []
    if pending:
        raise AssertionError("the Dockerfile ends inside a continuation line")
    return out


def runtime_containerfile(dockerfile, base, context):
    """The Dockerfile's final stage, built on base from local files.

    FROM becomes base; RUN lines are dropped (on Alpine they install what base
    holds: libcurl for the healthcheck); `COPY --from=STAGE src... dest` copies
    the same paths from context/from-STAGE/, filled from LOCAL_BUILD by file
    name; every other line (a plain COPY of the repository's files too) is kept
    as written, its sources copied into context. Returns the text.
    """
    instructions = dockerfile_instructions(dockerfile)
    froms = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    if not froms:
        raise AssertionError("the Dockerfile has no FROM")
    lines = [raw for keyword, raw in instructions[:froms[0]] if keyword in ("", "ARG")]
    lines.append("# was: %s\nFROM %s\n" % (instructions[froms[-1]][1].strip(), base))
    for keyword, raw in instructions[froms[-1] + 1:]:
        if keyword == "RUN":
            lines.append("# not run here (its packages are in %s): %s" %
                         (base, " ".join(raw.split())) + "\n")
        elif keyword in ("COPY", "ADD"):
            lines.append(local_copy(keyword, raw, context))
        else:
            lines.append(raw)
    return "".join(lines)


def local_copy(keyword, raw, context):
    """One COPY/ADD line of the runtime stage, its sources put into context."""
    lines = [line for line in raw.splitlines() if not line.strip().startswith("#")]
    body = re.sub(r"\\[ \t]*$", " ", "\n".join(lines), flags=re.M)
    words = shlex.split(body)[1:]
    if words and words[0].startswith("["):
        raise AssertionError("COPY's JSON form is not handled here: %s" % raw.strip())
    flags = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
    sources, dest = paths[:-1], paths[-1]
    if stage is None:
        for source in sources:
            matches = sorted(glob.glob(os.path.join(wl.TOP, source)))
            if not matches:
                raise AssertionError("%s copies %s: not in the repository" % (keyword, source))
            for match in matches:
                relative = os.path.relpath(match, wl.TOP)
                os.makedirs(os.path.dirname(os.path.join(context, relative)), exist_ok=True)
                shutil.copy2(match, os.path.join(context, relative))
        return raw
    local = []
    for source in sources:
        name = os.path.basename(source.rstrip("/"))
        if name not in LOCAL_BUILD:
            raise AssertionError("the runtime stage copies %s from stage %s: add where this "
                                 "checkout's build puts it to LOCAL_BUILD" % (source, stage))
        path = os.path.join("from-" + stage, source.lstrip("/"))
        os.makedirs(os.path.dirname(os.path.join(context, path)), exist_ok=True)
        shutil.copy2(LOCAL_BUILD[name], os.path.join(context, path))
        local.append(path)
    kept = [f for f in flags if not f.startswith("--from=")]
    return "# %s\n%s %s\n" % (" ".join(body.split()), keyword,
                              " ".join(kept + local + [dest]))


# --- the engine ---

HOLDER_SCRIPT = """
resolv=$(readlink -f /etc/resolv.conf)
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p "$(dirname "$resolv")"
[ -e "$resolv" ] || : >"$resolv"
mount --bind "$1" "$resolv"
ip link set lo up
echo ready
exec sleep infinity
"""

CONTAINERS_CONF = """\
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"

[network]
network_backend = "netavark"
# A safety net: a network made without --subnet still gets one in 198.18.0.0/15.
default_subnet_pools = [{{"base" = "{pool}", "size" = 24}}]
"""

WRAPPER = """\
#!/bin/sh
# podman as the tests run it (t/test_container.py says why each flag).
export CONTAINERS_CONF={tmp}/containers.conf
export CONTAINERS_REGISTRIES_CONF={tmp}/registries.conf
export TMPDIR={tmp}/tmp
exec nsenter --target {holder} --mount --net --wd="$PWD" -- \\
	podman --root {tmp}/root --runroot {tmp}/run --tmpdir {tmp}/libpod \\
	--volumepath {tmp}/volumes --network-config-dir {tmp}/networks \\
	--runtime runc --cgroup-manager cgroupfs --storage-driver vfs \\
	--events-backend file "$@"
"""

_engines = []


class Engine:
    """One private podman: its store in a temp dir, its namespaces held by one
    process. Every container, pod and network is named with `tag`; close()
    removes them by name, then the namespaces and the temp dir."""

    def __init__(self):
        hold_engine_lock()
        self.tag = "wlct%d%s" % (os.getpid() % 100000, os.urandom(2).hex())
        # podman's lock segment: ours to remove only when we made it.
        self.lock_was_there = os.path.exists(PODMAN_LOCK)
        self.tmp = tempfile.mkdtemp(prefix="wl-podman-")
        self.holder = None
        self.images_built = False
        self.anchors = {}
        _engines.append(self)
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        for sub in ("tmp", "networks"):
            os.makedirs(os.path.join(self.tmp, sub))
        with open(os.path.join(self.tmp, "containers.conf"), "w") as f:
            f.write(CONTAINERS_CONF.format(pool=SUBNET_POOL))
        with open(os.path.join(self.tmp, "registries.conf"), "w") as f:
            f.write("unqualified-search-registries = []\n")
        resolv_conf = os.path.join(self.tmp, "resolv.conf")
        with open(resolv_conf, "w") as f:
            f.write("nameserver 127.0.0.1\n")
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private", "--",
             "sh", "-ec", HOLDER_SCRIPT, "holder", resolv_conf],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True)
        if self.holder.stdout.readline().strip() != "ready":
            raise AssertionError("the engine's namespaces: %s" % self.holder.stderr.read())
        self.podman_path = os.path.join(self.tmp, "podman")
        with open(self.podman_path, "w") as f:
            f.write(WRAPPER.format(tmp=self.tmp, holder=self.holder.pid))
        os.chmod(self.podman_path, 0o755)

    def name(self, role):
        return "%s-%s" % (self.tag, role)

    def podman(self, *args, check=True, timeout=60):
        result = subprocess.run([self.podman_path] + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                timeout=timeout)
        result.stderr = HEALTHCHECK_TIMER_NOISE.sub("", result.stderr)
        if check and result.returncode != 0:
            raise AssertionError("podman %s: exit %d\n%s%s" % (
                " ".join(args), result.returncode, result.stdout, result.stderr))
        return result

    # images

    def build_images(self):
        """The three local images and the proxy's, once per run."""
        if self.images_built:
            return
        self.build(BUSYBOX_IMAGE, "FROM scratch\nCOPY rootfs/ /\nCMD [\"sh\"]\n", busybox_rootfs)
        dnsmasq = shutil.which("dnsmasq")
        self.build(DNSMASQ_IMAGE, "FROM %s\nCOPY rootfs/ /\n" % BUSYBOX_IMAGE,
                   lambda rootfs: add_files(rootfs, [dnsmasq] + shared_libraries(dnsmasq)))
        # The proxy is static; the healthcheck loads libcurl and what it needs.
        self.build(PROXY_BASE_IMAGE, "FROM %s\nCOPY rootfs/ /\n" % BUSYBOX_IMAGE,
                   lambda rootfs: add_files(rootfs, shared_libraries(wl.HEALTHCHECK)))
        context = os.path.join(self.tmp, "ctx-proxy")
        os.makedirs(context)
        with open(os.path.join(wl.TOP, "Dockerfile")) as f:
            self.containerfile = runtime_containerfile(f.read(), "localhost/" + PROXY_BASE_IMAGE,
                                                       context)
        self.build(PROXY_IMAGE, self.containerfile, context=context)
        self.images_built = True

    def build(self, image, containerfile, fill=None, context=None):
        if context is None:
            context = os.path.join(self.tmp, "ctx-" + image.replace("/", "-"))
            os.makedirs(os.path.join(context, "rootfs"))
            fill(os.path.join(context, "rootfs"))
        path = os.path.join(context, "Containerfile")
        with open(path, "w") as f:
            f.write(containerfile)
        self.podman("build", "--format", "docker", "--pull=never", "--layers=false",
                    "--network", "none", "-t", image, "-f", path, context, timeout=120)

    # networks and containers

    def network(self, role, subnet, internal=False, name=None):
        """A network named for role (or name), its gateway the subnet's first
        address, its bridge's MAC address pinned (see pin_bridge)."""
        name = name or self.name(role)
        args = ["network", "create", "--subnet", subnet]
        if internal:
            args.append("--internal")
        self.podman(*(args + [name]))
        self.pin_bridge(name, subnet)
        return name

    def pin_bridge(self, network, subnet):
        """netavark 1.4 leaves the bridge's MAC address to the kernel, which
        makes it the lowest of its ports' at every join and leave: containers
        then send to a stale gateway MAC, and aardvark-dns does not answer them
        for 5 to 20 s (measured). So a first container, the anchor, brings the
        bridge up (netavark removes it with its last container) and the MAC it
        has then is set explicitly: the kernel keeps a MAC that was set."""
        hosts = ipaddress.ip_network(subnet)
        self.anchors[network] = self.run("anchor-" + network.replace(self.tag, "").strip("-_"),
                                         BUSYBOX_IMAGE, "sleep", "1000000",
                                         networks=["%s:ip=%s" % (network, hosts[-2])],
                                         dns=str(hosts[1]))
        bridge = json.loads(self.podman("network", "inspect", network).stdout)[0][
            "network_interface"]
        link = self.in_namespace("ip", "-o", "link", "show", "dev", bridge)
        mac = re.search(r"link/ether (\S+)", link).group(1)
        self.in_namespace("ip", "link", "set", "dev", bridge, "address", mac)

    def in_namespace(self, *argv):
        """argv in the engine's network namespace (the bridges are there)."""
        return wl.run("nsenter", "--target", str(self.holder.pid), "--net", "--",
                      *argv).stdout

    def remove_network(self, network):
        """The network's anchor (busybox ignores SIGTERM: -t 0), then the network."""
        self.remove(self.anchors.pop(network, self.name("none")))
        self.podman("network", "rm", "-f", network, check=False)

    def run(self, role, image, *command, networks=(), dns=None, env=None, options=()):
        """podman run -d: networks are "NAME:ip=A,alias=B" specs; returns the name."""
        name = self.name(role)
        args = ["run", "-d", "--name", name] + ULIMITS
        for spec in networks or ["none"]:
            args += ["--network", spec]
        if dns:
            # A query lost while aardvark-dns reloads is asked again after 1 s, not 5.
            args += ["--dns", dns, "--dns-option", "timeout:1", "--dns-option", "attempts:4"]
        for key, value in (env or {}).items():
            args += ["-e", "%s=%s" % (key, value)]
        self.podman(*(args + list(options) + [image] + list(command)))
        return name

    def remove(self, *names):
        if names:
            self.podman("rm", "-f", "-t", "0", "--ignore", *names, check=False)

    def exec(self, container, script, timeout=30):
        return self.podman("exec", container, "sh", "-c", script, check=False, timeout=timeout)

    def logs(self, container):
        result = self.podman("logs", container, check=False)
        return result.stdout + result.stderr

    def inspect(self, container, template):
        return self.podman("inspect", container, "--format", template).stdout.strip()

    def healthcheck(self, container):
        """(exit status of `podman healthcheck run`, what the healthcheck printed)."""
        result = self.podman("healthcheck", "run", container, check=False, timeout=60)
        try:
            log = json.loads(self.inspect(container, "{{json .State.Health.Log}}")) or []
        except (AssertionError, ValueError):
            log = []
        said = log[-1].get("Output", "") if log else ""
        return result.returncode, (result.stdout + result.stderr + said).strip()

    def top(self, container):
        """[{user, pid, ppid, capeff, comm}] of the container's processes."""
        out = self.podman("top", container, "user", "pid", "ppid", "capeff", "comm").stdout
        rows = []
        for line in out.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 5:
                rows.append(dict(user=fields[0], pid=int(fields[1]), ppid=int(fields[2]),
                                 capeff=fields[3], comm=" ".join(fields[4:])))
        return rows

    def wait_proxy(self, container, timeout=15):
        """Until the proxy logs that it forwards (or routes); fails with its log
        if it exits."""
        def ready():
            if re.search(r"^whitelist: (forwarding|routing) ", self.logs(container), re.M):
                return True
            if self.inspect(container, "{{.State.Status}}") not in ("running", "created",
                                                                    "configured"):
                raise AssertionError("%s exited %s:\n%s" % (
                    container, self.inspect(container, "{{.State.ExitCode}}"),
                    self.logs(container)))
            return False
        wl.wait_until(ready, timeout=timeout, interval=0.2, what="%s forwarding" % container)

    def wait_resolves(self, container, name, address, timeout=10):
        """Until name resolves to address in container: aardvark-dns learns a new
        container's aliases a moment after `podman run` returns."""
        wl.wait_until(lambda: address in nslookup_addresses(self.exec(
            container, "nslookup -timeout=1 %s" % name).stdout), timeout=timeout,
            interval=0.2, what="%s resolving to %s in %s" % (name, address, container))

    # cleanup

    def _ours(self, kind):
        listing = {"container": ["ps", "-a", "--format", "{{.Names}}"],
                   "pod": ["pod", "ps", "--format", "{{.Name}}"],
                   "network": ["network", "ls", "--format", "{{.Name}}"]}[kind]
        result = self.podman(*listing, check=False, timeout=30)
        return [n for n in result.stdout.split() if self.tag in n]

    def close(self):
        if self.holder and self.holder.poll() is None:
            try:
                self.remove(*self._ours("container"))
                for pod in self._ours("pod"):
                    self.podman("pod", "rm", "-f", pod, check=False, timeout=30)
                for network in self._ours("network"):
                    self.podman("network", "rm", "-f", network, check=False, timeout=30)
            except subprocess.TimeoutExpired:
                pass
            # Whatever still runs in the engine's namespaces (conmon, aardvark-dns): by PID.
            for pid in processes_in_mount_ns(self.holder.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.holder.kill()
            self.holder.wait()
        if os.environ.get("WL_KEEP_LOGS") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if not self.lock_was_there:
            self.remove_lock()
        if self in _engines:
            _engines.remove(self)

    @staticmethod
    def remove_lock():
        """PODMAN_LOCK, once the podman and conmon processes just killed are gone."""
        try:
            wl.wait_until(lambda: not podman_running(), timeout=5, what="podman gone")
            os.unlink(PODMAN_LOCK)
        except (AssertionError, OSError):
            pass


PODMAN_LOCK = "/dev/shm/libpod_lock"
ENGINE_LOCK = "/tmp/wl-podman.lock"
_engine_lock = []


def hold_engine_lock():
    """One test process with engines at a time on the machine: podman's lock
    segment in /dev/shm is shared by every podman, and a run may remove it.
    Taken once per process (a second flock of our own would wait forever)
    and held until the process exits."""
    if not _engine_lock:
        lock = open(ENGINE_LOCK, "a")
        fcntl.flock(lock, fcntl.LOCK_EX)
        _engine_lock.append(lock)


def podman_running():
    """True when a podman or conmon process, not a zombie, runs on the machine
    (it may hold PODMAN_LOCK)."""
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = wl.read("/proc/%s/stat" % entry)
        except OSError:
            continue
        comm, _, rest = stat.partition("(")[2].rpartition(")")
        if comm in ("podman", "conmon") and rest.split()[0] != "Z":
            return True
    return False


def processes_in_mount_ns(holder):
    """PIDs that share holder's mount namespace, holder excepted."""
    try:
        ns = os.readlink("/proc/%d/ns/mnt" % holder)
    except OSError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != holder:
            try:
                if os.readlink("/proc/%s/ns/mnt" % entry) == ns:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


@atexit.register
def _close_all():
    for engine in list(_engines):
        engine.close()


_shared = {}


def engine():
    """The run's one engine, its images built (the first caller pays; a
    failure is kept and raised again for every later class). It serves every
    module of the run (t/test_examples.py too) and is closed at exit, as its
    machine lock is held until then anyway."""
    if "failed" in _shared:
        raise AssertionError("the engine failed to start earlier: %s" % _shared["failed"])
    try:
        if "engine" not in _shared:
            _shared["engine"] = Engine()
        _shared["engine"].build_images()
    except BaseException as error:
        _shared["failed"] = str(error).splitlines()[0] if str(error) else repr(error)
        raise
    return _shared["engine"]


def http_body(response):
    """(status line, body) of an HTTP response (read in text mode: CRLF is LF here)."""
    head, _, body = response.replace("\r\n", "\n").partition("\n\n")
    return head.split("\n", 1)[0], body


def nslookup_addresses(out):
    """The answer's addresses in busybox nslookup's output (not the server's)."""
    return re.findall(r"^Name:\s*\S+\s*\nAddress:\s*(\S+)", out, re.M)


# --- the README's story ---

IN_NET, OUT_NET = "198.19.1.0/24", "198.19.2.0/24"
IN_GW, OUT_GW = "198.19.1.1", "198.19.2.1"
DNS_IP, TARGET_IP = "198.19.2.53", "198.19.2.10"
APP_IP = "198.19.1.100"
# Each proxy's TARGET name, its address on the internal network (where it is
# the name's alias) and on the outside one.
PROXIES = {
    "proxy": ("target.example", "198.19.1.10", "198.19.2.20"),
    "udp": ("dns.example", "198.19.1.11", "198.19.2.21"),
    "trap": ("trap.example", "198.19.1.12", "198.19.2.22"),
    "health": ("health.example", "198.19.1.13", "198.19.2.23"),
    "stop": ("stop.example", "198.19.1.14", "198.19.2.24"),
    "ro": ("ro.example", "198.19.1.15", "198.19.2.25"),
}
TARGET_BODY = "hello from the target"
CLIENT_TIMEOUT = 4  # seconds an app-side client may take
# A request whose client keeps its side open (no half-close that would end a
# loop by itself): nc's stdin is a FIFO that the shell holds until nc exits.
HELD_REQUEST = """rm -f /tmp/held && mkfifo /tmp/held
timeout {timeout} nc {host} {port} </tmp/held &
exec 3>/tmp/held
printf 'GET / HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' >&3
wait $!
"""


class TestContainer(unittest.TestCase):
    """One internal network (the app; the proxies with their aliases), one
    normal network (the target, the proxies, the DNS)."""

    @classmethod
    def setUpClass(cls):
        require_engine()
        cls.engine = engine()
        cls.addClassCleanup(cls._down)
        cls._topology()

    @classmethod
    def _topology(cls):
        e = cls.engine
        cls.inside = e.network("in", IN_NET, internal=True)
        cls.outside = e.network("out", OUT_NET)
        records = ["--host-record=%s,%s" % (name, TARGET_IP) for name, _, _ in PROXIES.values()
                   if name not in ("dns.example", "trap.example")]
        records.append("--host-record=dns.example,%s" % DNS_IP)
        cls.dns = e.run("dns", DNSMASQ_IMAGE, "dnsmasq", "--keep-in-foreground", "--no-resolv",
                        "--no-hosts", "--user=root", "--pid-file=", "--log-facility=-",
                        "--cache-size=0", *records,
                        networks=["%s:ip=%s" % (cls.outside, DNS_IP)], dns=OUT_GW)
        cls.target = e.run("target", BUSYBOX_IMAGE, "sh", "-c",
                           "mkdir /www && echo '%s' > /www/index.html && "
                           "httpd -p 443 -h /www && exec httpd -f -p 80 -h /www" % TARGET_BODY,
                           networks=["%s:ip=%s" % (cls.outside, TARGET_IP)], dns=OUT_GW)
        cls.app = e.run("app", BUSYBOX_IMAGE, "sleep", "1000000",
                        networks=["%s:ip=%s" % (cls.inside, APP_IP)], dns=IN_GW)
        cls.proxy = cls.start_proxy("proxy")
        cls.udp = cls.start_proxy("udp", MODE="udp", PORT="53")

    @classmethod
    def start_proxy(cls, role, options=(), **env):
        """The image as the README runs it: the alias on the internal network,
        PRE_RESOLVE=1 asking the outside DNS (unless env says otherwise)."""
        name, inside_ip, outside_ip = PROXIES[role]
        variables = dict(TARGET=name, PRE_RESOLVE="1", NAMESERVERS=DNS_IP)
        variables.update(env)
        container = cls.engine.run(
            role, PROXY_IMAGE, env=variables, dns=IN_GW, options=options,
            networks=["%s:ip=%s,alias=%s" % (cls.inside, inside_ip, name),
                      "%s:ip=%s" % (cls.outside, outside_ip)])
        cls.engine.wait_proxy(container)
        cls.engine.wait_resolves(cls.app, name, inside_ip)
        return container

    @classmethod
    def _down(cls):
        e = cls.engine
        e.remove(*[e.name(role) for role in ["app", "target", "dns"] + list(PROXIES)])
        for role in ("in", "out"):
            e.remove_network(e.name(role))

    def proxy_for_test(self, role, options=(), **env):
        self.addCleanup(self.remove_proxy, role)
        return self.start_proxy(role, options, **env)

    def remove_proxy(self, role):
        """Removes a test's own proxy, then waits until aardvark-dns, which
        reloads when a container leaves, answers for the main proxy again."""
        self.engine.remove(self.engine.name(role))
        name, address, _ = PROXIES["proxy"]
        self.engine.wait_resolves(self.app, name, address)

    def http(self, host, port=80):
        """GET / from the app to host:port: (exit status, status line, body)."""
        result = self.engine.exec(self.app, (
            "printf 'GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' | timeout %d nc %s %d"
            % (host, CLIENT_TIMEOUT, host, port)))
        status, body = http_body(result.stdout)
        return result.returncode, status, body, result.stderr

    def assert_healthy(self, container):
        status, said = self.engine.healthcheck(container)
        self.assertEqual(status, 0, "podman healthcheck run %s: %s" % (container, said))

    def idle_connection(self, host, seconds):
        """An open, silent connection from the app to host:80, for at most
        `seconds` (nc's stdin is a FIFO nobody writes; the exec ends with nc)."""
        client = subprocess.Popen(
            [self.engine.podman_path, "exec", self.app, "sh", "-c",
             "f=/tmp/idle-$$ && mkfifo $f\ntimeout %d nc %s 80 <$f &\nexec 3>$f\nwait $!"
             % (seconds, host)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.addCleanup(self.end_client, client)
        return client

    @staticmethod
    def end_client(client):
        """Our podman exec client, ended by PID (nc in the app ends by its timeout)."""
        if client.poll() is None:
            client.kill()
        client.wait()

    def relays(self, container):
        """The container's relays: children of a listener (PID 1's children)."""
        rows = self.engine.top(container)
        listeners = {row["pid"] for row in rows if row["ppid"] == 1}
        return [row for row in rows if row["ppid"] in listeners]

    # the image

    def test_image_holds_the_dockerfiles_contract(self):
        inspect = json.loads(self.engine.podman("image", "inspect", PROXY_IMAGE).stdout)[0]
        config = inspect["Config"]
        env = dict(item.split("=", 1) for item in config.get("Env", []))
        env.pop("PATH", None)
        self.assertEqual(env, wl.IMAGE_ENV, "every default of the old image, and ours")
        healthcheck = inspect.get("Healthcheck") or config.get("Healthcheck") or {}
        self.assertEqual(healthcheck.get("Test"), ["CMD", "healthcheck"])
        self.assertIn(config.get("StopSignal"), ("SIGTERM", "15"))
        self.assertEqual(config.get("Entrypoint"), ["/usr/local/bin/entrypoint.sh"])
        self.assertFalse(config.get("Cmd"), "no arguments: the proxy")
        self.assertFalse(config.get("User"), "starts as root to bind 80 and 443, as before")

    def test_arguments_run_instead_of_the_proxy(self):
        def run(*args):
            name = self.engine.name("args")
            self.addCleanup(self.engine.remove, name)
            return self.engine.podman(*(["run", "--rm", "--name", name, "--network", "none"] +
                                        ULIMITS + [PROXY_IMAGE] + list(args)), check=False)
        result = run("sh", "-c", "echo hi; exit 3")
        self.assertEqual((result.stdout, result.returncode), ("hi\n", 3), result.stderr)
        for args in ([], ["proxy"]):  # `proxy`: the old image's command
            with self.subTest(args=args):
                result = run(*args)
                self.assertEqual(result.returncode, 2, "the proxy's own status for bad config")
                self.assertRegex(result.stderr, r"(?m)^whitelist: TARGET: ",
                                 "the proxy checks the environment itself")

    # the story

    def test_app_reaches_the_target_through_the_proxy_on_both_default_ports(self):
        for port in (80, 443):
            with self.subTest(port=port):
                status, line, body, err = self.http("target.example", port)
                self.assertEqual((status, line, body.strip()),
                                 (0, "HTTP/1.1 200 OK", TARGET_BODY), err)

    def test_app_cannot_reach_the_target_or_anything_outside(self):
        lookup = self.engine.exec(self.app, "nslookup target.example")
        self.assertEqual(nslookup_addresses(lookup.stdout), [PROXIES["proxy"][1]],
                         "on the internal network the name is the proxy\n" + lookup.stdout)
        for address, port in ((TARGET_IP, 80), (DNS_IP, 53), (OUT_GW, 80)):
            with self.subTest(address=address):
                result = self.engine.exec(self.app, "timeout %d nc %s %d </dev/null" %
                                          (CLIENT_TIMEOUT, address, port))
                self.assertNotEqual(result.returncode, 0)
                self.assertIn("Network is unreachable", result.stderr)

    def test_the_proxy_is_pid_1_and_nothing_runs_as_root(self):
        self.idle_connection("target.example", 6)
        wl.wait_until(lambda: self.relays(self.proxy), timeout=10, interval=0.2,
                      what="a relay for the idle connection")
        rows = self.engine.top(self.proxy)
        self.assertEqual([(r["pid"], r["comm"]) for r in rows if r["ppid"] == 0],
                         [(1, "whitelist")], "entrypoint.sh exec'd the proxy: PID 1")
        listeners = [r for r in rows if r["ppid"] == 1]
        self.assertEqual(sorted(r["comm"] for r in listeners), ["whitelist:443", "whitelist:80"])
        for row in rows:
            with self.subTest(process=row["comm"], pid=row["pid"]):
                # docs/security.md, least privilege: everything runs as RUN_AS (65534) after binding.
                self.assertEqual((row["user"], row["capeff"]), ("nobody", "none"))

    def test_healthcheck_healthy(self):
        self.assert_healthy(self.proxy)

    def test_unhealthy_while_the_target_is_paused(self):
        container = self.proxy_for_test("health", HTTP_HEALTHCHECK="1")
        self.assert_healthy(container)
        self.engine.podman("pause", self.target)
        try:
            status, said = self.engine.healthcheck(container)
            self.assertEqual(status, 1, said)
            self.assertIn("http", said.lower())
        finally:
            self.engine.podman("unpause", self.target)
        self.assert_healthy(container)

    def test_podman_stop_ends_it_with_0_within_the_grace(self):
        container = self.proxy_for_test("stop")
        self.idle_connection("stop.example", 30)
        wl.wait_until(lambda: self.relays(container), timeout=10, interval=0.2,
                      what="a relay for the idle connection")
        started = time.monotonic()
        self.engine.podman("stop", "-t", "10", container, timeout=30)
        elapsed = time.monotonic() - started
        self.assertEqual(self.engine.inspect(container, "{{.State.ExitCode}}"), "0",
                         self.engine.logs(container))
        self.assertLess(elapsed, GRACE + 1.5, "the 5 s grace, not podman's SIGKILL at 10 s")

    def test_read_only_root_and_no_capabilities_serve_and_stay_healthy(self):
        container = self.proxy_for_test("ro", options=[
            "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp",
            "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"])
        status, line, body, err = self.http("ro.example")
        self.assertEqual((status, line, body.strip()), (0, "HTTP/1.1 200 OK", TARGET_BODY), err)
        self.assert_healthy(container)

    def test_udp_mode_reaches_a_udp_target(self):
        # The UDP target is the outside DNS itself: nslookup asks it through
        # the proxy (the app has no route to it), by the proxy's alias.
        result = self.engine.exec(self.app, "timeout %d nslookup target.example dns.example" %
                                  CLIENT_TIMEOUT)
        self.assertIn("Address:\t%s:53" % PROXIES["udp"][1], result.stdout,
                      "asked the proxy\n" + result.stdout + result.stderr)
        self.assertEqual(nslookup_addresses(result.stdout), [TARGET_IP],
                         "the answer came back\n" + result.stdout + result.stderr)

    def test_udp_mode_healthy(self):
        self.assert_healthy(self.udp)

    def test_the_alias_trap_is_refused_and_logged(self):
        # Without PRE_RESOLVE the proxy asks podman's DNS, where its TARGET is
        # its own alias: it must not connect to itself.
        name, address, _ = PROXIES["trap"]
        container = self.proxy_for_test("trap", PRE_RESOLVE="0", PORT="80")
        started = time.monotonic()
        result = self.engine.exec(self.app, HELD_REQUEST.format(
            host=name, port=80, timeout=CLIENT_TIMEOUT), timeout=CLIENT_TIMEOUT + 30)
        elapsed = time.monotonic() - started
        self.assertEqual(result.stdout, "", "nothing relayed")
        log = self.engine.logs(container)
        processes = len(self.engine.top(container))
        self.assertIn(LOOP_LINE.format(name=name, address=address), log,
                      "the loop line (the proxy has %d processes now)" % processes)
        self.assertLess(elapsed, CLIENT_TIMEOUT - 1,
                        "the client is closed at once (the proxy has %d processes now)" %
                        processes)
        status, said = self.engine.healthcheck(container)
        self.assertEqual(status, 1, "unhealthy while it happens (SPEC): " + said)


if __name__ == "__main__":
    unittest.main()
