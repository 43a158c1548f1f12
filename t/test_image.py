"""What the container engine test cannot see of the image.

t/test_container.py builds the Dockerfile's final stage with podman and runs
it: ENV, HEALTHCHECK, STOPSIGNAL, ENTRYPOINT, entrypoint.sh under busybox sh,
the proxy as PID 1, its stop, its healthcheck. That build replaces the FROM
and RUN lines (no registry here: Alpine cannot be pulled), so what the Alpine
stages would do is checked here instead:
- the build stage compiles both programs from the sources the build context
  holds (.dockerignore keeps host objects out), on Alpine, with no platform
  pinned and no line specific to an architecture, downloading nothing but
  Alpine packages; the runtime stage installs no interpreter, socat or compiler;
- the sources compile against musl, Alpine's libc, and that proxy works with
  the image's ENV under busybox sh, Alpine's /bin/sh, in a namespace
  (musl-tools and busybox-static: make check installs them; without them these
  tests skip, and fail under CI);
- entrypoint.sh is clean under shellcheck.
"""

import fnmatch
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import wl
from wl import OUT_V4

DOCKERFILE = os.path.join(wl.TOP, "Dockerfile")
DOCKERIGNORE = os.path.join(wl.TOP, ".dockerignore")
ENTRYPOINT = os.path.join(wl.TOP, "entrypoint.sh")
ALPINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKER_STOP_TIMEOUT = 10


# --- the Dockerfile's stages, read as Docker's parser and shell lexer read them ---

CONTINUATION = re.compile(r"\\[ \t]*$")


def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)]: comments dropped, continuation lines joined."""
    out, pending = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue  # also inside a continuation, as Docker does
        match = CONTINUATION.search(line)
        body = line[:match.start()] if match else line
        pending = body if pending is None else pending + body
        if not match:
            parts = pending.strip().split(None, 1)
            out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
            pending = None
    if pending is not None:
        raise ValueError("the Dockerfile ends inside a continuation line")
    return out


def dockerfile_stages(text):
    """(global ARGs, [[(INSTRUCTION, arguments)] per stage, FROM first])."""
    global_args, stages = {}, []
    for instruction, args in dockerfile_instructions(text):
        if instruction == "FROM":
            stages.append([])
        elif not stages and instruction == "ARG":
            name, _, default = args.partition("=")
            global_args[name.strip()] = shell_expand(default, {})
            continue
        stages[-1].append((instruction, args))
    return global_args, stages


def shell_split_raw(text):
    """Words split on unquoted blanks, quotes and escapes left in place."""
    words, word, quote, i = [], "", None, 0
    while i < len(text):
        char = text[i]
        if char == "\\" and quote != "'" and i + 1 < len(text):
            word += text[i:i + 2]
            i += 2
            continue
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in " \t":
            if word:
                words.append(word)
            word = ""
            i += 1
            continue
        word += char
        i += 1
    if quote:
        raise ValueError("unterminated quote in %r" % text)
    if word:
        words.append(word)
    return words


VARIABLE = re.compile(r"\$(?:\{(\w+)(?:(:[-+])([^}]*))?\}|(\w+))")


def shell_expand(text, env):
    """One word as Docker's lexer makes it: quotes removed, escapes and $VAR
    done (FROM's image with the global ARGs). Unset variables become empty."""
    out, i, quote = "", 0, None
    while i < len(text):
        char = text[i]
        if quote == "'":
            if char == "'":
                quote = None
            else:
                out += char
            i += 1
        elif char == "\\":
            following = text[i + 1:i + 2]
            if quote == '"' and following not in ('"', "$", "\\"):
                out += char  # inside double quotes other escapes stay as written
            else:
                out += following
                i += 1
            i += 1
        elif char in "'\"" and quote is None:
            quote = char
            i += 1
        elif char == '"' and quote == '"':
            quote = None
            i += 1
        elif char == "$":
            match = VARIABLE.match(text, i)
            if not match:
                out += char
                i += 1
                continue
            name = match.group(1) or match.group(4)
            value = env.get(name, "")
            if match.group(2) == ":-" and not value:
                value = shell_expand(match.group(3), env)
            elif match.group(2) == ":+":
                value = shell_expand(match.group(3), env) if value else ""
            out += value
            i = match.end()
        else:
            out += char
            i += 1
    if quote:
        raise ValueError("unterminated quote in %r" % text)
    return out


def read_dockerfile():
    with open(DOCKERFILE) as f:
        return dockerfile_stages(f.read())


def dockerignored(path, patterns):
    """Whether .dockerignore keeps path (relative to the context) out."""
    excluded = False
    parts = path.split("/")
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase("/".join(parts[:n]), pattern)
               for n in range(1, len(parts) + 1)):
            excluded = not negated
    return excluded


def dockerignore_patterns():
    with open(DOCKERIGNORE) as f:
        return [line.strip() for line in f
                if line.strip() and not line.strip().startswith("#")]


def copy_sources(stage):
    """The context paths that the stage's COPY lines (not --from) bring in."""
    sources = []
    for instruction, args in stage:
        if instruction != "COPY" or "--from=" in args:
            continue
        words = [w for w in shell_split_raw(args) if not w.startswith("--")]
        for pattern in words[:-1]:
            sources += [os.path.relpath(p, wl.TOP)
                        for p in glob.glob(os.path.join(wl.TOP, pattern))]
    return sorted(set(sources))


def makefile_sources():
    """The .c files the Makefile links into whitelist and healthcheck."""
    with open(os.path.join(wl.TOP, "Makefile")) as f:
        text = f.read()
    objects = []
    for name in ("PROXY_OBJS", "HEALTH_OBJS"):
        match = re.search(r"^%s\s*=(.*)$" % name, text, re.M)
        objects += match.group(1).split()
    return sorted({o[:-2] + ".c" for o in objects})


class TestDockerfileReader(unittest.TestCase):
    """The reader itself, on the forms Docker accepts (so the checks below mean something)."""

    def test_continuations_and_comments_as_docker_reads_them(self):
        text = ("ARG V=3.20\nFROM alpine:${V} AS build\nRUN apk add \\\n"
                "    # a comment inside\n    make\nFROM alpine:${V}\nCOPY a b\n")
        global_args, stages = dockerfile_stages(text)
        self.assertEqual(global_args, {"V": "3.20"})
        self.assertEqual(stages, [[("FROM", "alpine:${V} AS build"), ("RUN", "apk add     make")],
                                  [("FROM", "alpine:${V}"), ("COPY", "a b")]])
        self.assertEqual(shell_expand("alpine:${V}", global_args), "alpine:3.20")


class TestDockerfile(unittest.TestCase):
    """What the image promises, read from the Dockerfile."""

    @classmethod
    def setUpClass(cls):
        cls.global_args, cls.stages = read_dockerfile()
        cls.build, cls.runtime = cls.stages[0], cls.stages[-1]

    def instructions(self, stage, name):
        return [args for instruction, args in stage if instruction == name]

    def test_multi_stage_from_alpine_with_no_platform_pinned(self):
        self.assertGreaterEqual(len(self.stages), 2, "a build stage and a runtime stage")
        for stage in self.stages:
            words = [w for w in stage[0][1].split() if not w.startswith("--")]
            image = shell_expand(words[0], self.global_args)
            self.assertRegex(image, r"^alpine:\d", "Alpine, a pinned release")
            self.assertNotRegex(stage[0][1], r"--platform=(?!\$)", "no platform pinned")

    def test_build_stage_compiles_both_binaries_from_source(self):
        runs = " ".join(self.instructions(self.build, "RUN"))
        self.assertRegex(runs, r"\bmake\b.*\bwhitelist\b.*\bhealthcheck\b")
        self.assertIn("build-base", runs)
        self.assertIn("curl-dev", runs)

    def test_runtime_stage_installs_no_interpreter_socat_or_compiler(self):
        # The engine test builds this stage without its RUN lines: checked here.
        installed = " ".join(self.instructions(self.runtime, "RUN"))
        self.assertNotRegex(installed, r"python|perl|ruby|nodejs|lua|socat|build-base|gcc",
                            "no interpreter, no socat, no compiler at run time")

    def test_downloads_nothing_but_distribution_packages(self):
        with open(DOCKERFILE) as f:
            self.assertNotRegex(f.read(), r"(?mi)^#\s*syntax\s*=",
                                "a syntax directive pulls a frontend image")
        for stage in self.stages:
            for instruction, args in stage:
                with self.subTest(line="%s %s" % (instruction, args)):
                    self.assertNotEqual(instruction, "ADD", "ADD can fetch URLs: use COPY")
                    if instruction == "RUN":
                        self.assertNotRegex(args, r"(^|[\s;&|(])(curl|wget|git|pip3?|npm|go|"
                                            r"cargo)\s", "only apk fetches")
                        self.assertNotRegex(args, r"https?://")

    def test_no_architecture_specific_lines(self):
        for stage in self.stages:
            for instruction, args in stage:
                self.assertNotRegex(args, r"amd64|x86_64|aarch64|arm64|armv\d",
                                    "buildx builds every platform from the same lines")

    def test_build_context_holds_what_make_needs_and_no_host_objects(self):
        patterns = dockerignore_patterns()
        copied = copy_sources(self.build)
        kept = [p for p in copied if not dockerignored(p, patterns)]
        for source in makefile_sources() + ["Makefile"]:
            with self.subTest(source=source):
                if os.path.exists(os.path.join(wl.TOP, source)):
                    self.assertIn(source, kept, "the build stage copies it")
        self.assertFalse(dockerignored("entrypoint.sh", patterns))
        for path in ("whitelist", "healthcheck", "relay.o", ".git/config", "t/wl.py",
                     "fuzz/corpus/x"):
            with self.subTest(path=path):
                self.assertTrue(dockerignored(path, patterns), "kept out of the context")


class TestEntrypoint(unittest.TestCase):
    """entrypoint.sh on its own (the engine test runs it under busybox sh)."""

    def test_shellcheck_clean(self):
        wl.need_program("shellcheck", "shellcheck")
        result = wl.run("shellcheck", ENTRYPOINT, check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class ImageRun:
    """The image run in a namespace: ENV + TARGET, binaries on PATH, entrypoint.sh.

    A subclass sets `whitelist` (the proxy binary) and `shell` (what runs
    entrypoint.sh: empty for its own #!/bin/sh line). The healthcheck runs here
    as the host's root, with every capability: how it fares as a container's
    root (no CAP_SYS_PTRACE) only t/test_container.py can tell.
    """

    whitelist = None
    shell = ()

    @classmethod
    def setUpClass(cls):
        cls.topo = wl.Topology()
        try:
            wl.start_nginx(cls.topo, port=80)
            wl.start_nginx(cls.topo, port=443)
            cls.bin = os.path.join(cls.topo.tmp, "bin")
            os.makedirs(cls.bin)
            os.symlink(cls.whitelist or wl.WHITELIST, os.path.join(cls.bin, "whitelist"))
            os.symlink(wl.HEALTHCHECK, os.path.join(cls.bin, "healthcheck"))
            # Exactly the image's variables, plus TARGET and the base image's PATH.
            cls.env = dict(wl.IMAGE_ENV, TARGET=OUT_V4, PATH=cls.bin + ":" + ALPINE_PATH)
        except BaseException:
            cls.topo.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.topo.close()

    def setUp(self):
        self.assertTrue(os.path.exists(self.whitelist or wl.WHITELIST), "make builds ./whitelist")
        self.proxy = self.topo.start(self.topo.proxy, list(self.shell) + [ENTRYPOINT],
                                     env=self.env)
        self.proxy.env = self.env  # tells Topology.close it is a proxy
        for port in (80, 443):
            wl.wait_until(lambda: self.topo.listening(self.topo.proxy, port) or
                          self.proxy.poll() is not None, what="listening on %d" % port)
        if self.proxy.poll() is not None:
            self.fail("entrypoint.sh exited %s:\n%s" % (self.proxy.returncode,
                                                       wl.read(self.proxy.log)))

    def tearDown(self):
        self.topo.stop(self.proxy, signal.SIGKILL)

    def healthcheck(self):
        self.assertTrue(os.path.exists(wl.HEALTHCHECK), "make builds ./healthcheck")
        return wl.run("ip", "netns", "exec", self.topo.proxy,
                      *(list(self.shell) + [ENTRYPOINT, "healthcheck"]),
                      env=self.env, check=False, timeout=30)

    def test_the_process_started_is_the_proxy(self):
        pid = self.proxy.pid
        self.assertEqual(wl.read("/proc/%d/comm" % pid).strip(), "whitelist",
                         "exec'd: the proxy is PID 1, not a shell in front of it")
        self.assertEqual(os.path.realpath("/proc/%d/exe" % pid),
                         os.path.realpath(self.whitelist or wl.WHITELIST))

    def test_serves_both_default_ports(self):
        for port in (80, 443):
            with self.subTest(port=port):
                status, body = wl.http_get(self.topo, port=port)
                self.assertEqual(status, "HTTP/1.1 200 OK")
                self.assertEqual(body, b"hello from %s\n" % OUT_V4.encode())

    def test_healthcheck_passes_while_it_serves(self):
        result = self.healthcheck()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_sigterm_ends_it_with_0_within_docker_stop_timeout(self):
        # An idle keep-alive connection: the proxy must not wait on it forever.
        sock = self.topo.connect(80)
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        wl.wait_until(lambda: b"hello from" in sock.recv(4096), what="the answer")
        started = time.monotonic()
        self.proxy.send_signal(signal.SIGTERM)
        try:
            status = self.proxy.wait(DOCKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("still running %d s after SIGTERM: Docker would SIGKILL it" %
                      DOCKER_STOP_TIMEOUT)
        finally:
            sock.close()
        self.assertEqual(status, 0, wl.read(self.proxy.log))
        self.assertLess(time.monotonic() - started, DOCKER_STOP_TIMEOUT)
        self.assertFalse(self.topo.listening(self.topo.proxy, 80))
        result = self.healthcheck()
        self.assertEqual(result.returncode, 1, "unhealthy once the proxy is gone:\n" +
                         result.stdout + result.stderr)


_musl = {}
WARNING = re.compile(r"^[\w./-]+:\d+:\d+: warning: .*$", re.M)


def musl_build():
    """The build stage's sources (COPY minus .dockerignore) built with musl-gcc, once.

    The same sources are built with the host's compiler beside them, so that
    a warning only musl's headers cause can be told from one the code always
    has. Returns the musl tree, holding ./whitelist; healthcheck.c is compiled
    by its own test (no musl libcurl here to link it against).
    """
    wl.need_program("musl-gcc", "musl-tools")  # Alpine's libc
    if "dir" not in _musl:
        _, stages = read_dockerfile()
        patterns = dockerignore_patterns()
        for tree in ("dir", "host"):
            _musl[tree] = tempfile.mkdtemp(prefix="wl-musl-")
            for source in copy_sources(stages[0]):
                if not dockerignored(source, patterns):
                    shutil.copy(os.path.join(wl.TOP, source), _musl[tree])
        _musl["whitelist"] = musl_make("whitelist")
    return _musl["dir"]


def musl_make(*args):
    """make with the Dockerfile's flags, with musl-gcc and with cc; fails on an error.

    Returns the warnings of the musl build that the host build does not have.
    """
    warnings = {}
    # As the Dockerfile builds: nothing inherited from an outer make (make asan's CFLAGS).
    env = {name: value for name, value in os.environ.items()
           if name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env.update(CFLAGS="-O2", LDFLAGS="-s")
    for tree, compiler in (("dir", "musl-gcc"), ("host", "cc")):
        result = subprocess.run(["make", "-j2", "CC=" + compiler] + list(args),
                                cwd=_musl[tree], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=300)
        if result.returncode != 0:
            raise AssertionError("%s build of %s failed:\n%s" % (compiler, args[0],
                                                                 result.stdout))
        warnings[tree] = set(WARNING.findall(result.stdout))
    return sorted(warnings["dir"] - warnings["host"])


def tearDownModule():
    for tree in ("dir", "host"):
        if tree in _musl:
            shutil.rmtree(_musl.pop(tree), ignore_errors=True)


class TestMuslCompile(unittest.TestCase):
    """Alpine's libc: both programs compile, with no warning of musl's own.

    (Warnings the host build has too are the code's, not the libc's: not judged here.)
    """

    def test_whitelist_builds(self):
        musl_build()
        self.assertEqual(_musl["whitelist"], [], "warnings under musl only")
        self.assertTrue(os.path.exists(os.path.join(_musl["dir"], "whitelist")))

    def test_healthcheck_compiles(self):
        musl_build()
        # libcurl's headers searched after musl's own, so musl's system headers win.
        result = wl.run("pkg-config", "--cflags-only-I", "libcurl", check=False)
        dirs = [w[2:] for w in result.stdout.split()] + ["/usr/include"]
        curl = [d for d in dirs if os.path.exists(os.path.join(d, "curl", "curl.h"))][:1]
        self.assertTrue(curl, "libcurl's headers (libcurl4-openssl-dev)")
        self.assertEqual(musl_make("healthcheck.o", "CURL_CFLAGS=-idirafter " + curl[0]), [],
                         "warnings under musl only")


@wl.need_root
class TestMuslImageRun(ImageRun, unittest.TestCase):
    """The musl-built proxy, entrypoint.sh under busybox sh: the image's own libc and shell."""

    @classmethod
    def setUpClass(cls):
        cls.whitelist = os.path.join(musl_build(), "whitelist")
        if not glob.glob("/lib/ld-musl-*"):
            wl.cannot_run("no musl loader to run the musl build (apt-get install musl)")
        wl.need_program("busybox", "busybox-static")
        cls.shell = ("busybox", "sh")
        super().setUpClass()


if __name__ == "__main__":
    unittest.main()
