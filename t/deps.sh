#!/bin/sh
# t/deps.sh: installs the Debian 12 packages a make target needs, when some
# are missing and we are root; otherwise says what is missing. Under CI (CI
# set and not empty) anything still missing is an error: a test that cannot
# run must fail there, not skip.
#
# Usage: t/deps.sh [GROUP...]. The build group always; then, per target:
#   check   make check (and asan, soak: they run the same programs)
#   bench   make bench (also needs check's)
#   fuzz    make fuzz
#   fresh   make fresh, on the host
#   cross   make cross (also needs check's): aarch64 programs under qemu-user;
#           NAME:arm64 packages come from Debian's arm64 architecture, which
#           is added (dpkg --add-architecture) when one is missing
#
# The audit (below, in audit()): every program the Makefile, t/*.py, t/*.sh,
# bench/ and fuzz/run.sh run, and the package that provides it. "what" is a
# program looked up on PATH (sbin included), a path glob that must exist, or
# pkg:NAME, a package that must be installed (libraries and headers). What
# every Debian has (Essential packages and debootstrap's minbase: sh,
# coreutils, sed, grep, findutils, dpkg, apt, mount) is left out, except
# util-linux, whose programs the tests run by name.
set -eu
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
groups="build $*"

# The audit: group, what, the package that provides it, and who runs it.
audit() {
	cat <<'EOF'
build cc                       gcc                      Makefile; t/test_ipv6.py (t/noipv6.c); t/test_image.py
build make                     make                     Makefile; t/test_image.py (the musl tree)
build pkg:libc6-dev            libc6-dev                headers, libc.a for the static proxy (gcc only recommends it)
build pkg-config               pkg-config               Makefile (libcurl, check); t/test_image.py
build pkg:libcurl4-openssl-dev libcurl4-openssl-dev     healthcheck.c (libcurl and its headers)
check pkg:check                check                    t/check_*.c (the Check unit suites)
check python3                  python3                  t/*.py (smtpd, asyncore: in 3.11's standard library)
check ip                       iproute2                 t/wl.py (ip netns, link, addr), most t/test_*.py
check ss                       iproute2                 t/wl.py (who listens), t/test_*.py
check nginx                    nginx-light              t/wl.py start_nginx: the HTTP target
check dnsmasq                  dnsmasq-base             t/wl.py start_dnsmasq: the DNS server
check sysctl                   procps                   t/test_ipv6.py (IPv6 off in a namespace)
check prlimit                  util-linux               t/test_faults.py (descriptor limits)
check setpriv                  util-linux               t/test_privileges.py (cap_drop: ALL); t/test_healthcheck.py (an engine's capabilities)
check openssl                  openssl                  t/wl.py make_test_ca (routed mode's test CA); t/test_routed.py (s_client)
check curl                     curl                     t/test_routed.py (TLS and HTTP clients); t/test_ports.py (FTP client); t/test_connect.py (-x, HTTPS_PROXY, --proxy-user)
check wget                     wget                     t/test_connect.py (https_proxy)
check vsftpd                   vsftpd                   t/test_ports.py (passive FTP behind a port range)
check nft                      nftables                 t/test_ports.py (PORT=*: the redirect rule, read back)
check shellcheck               shellcheck               t/test_image.py (entrypoint.sh)
check pkg:busybox-static       busybox-static           t/test_image.py (Alpine's sh); t/test_container.py (images FROM scratch need it static)
check podman                   podman                   t/test_container.py (the image in a real engine)
check runc                     runc                     t/test_container.py (crun refuses this machine's hybrid cgroups)
check /usr/lib/podman/netavark netavark                 t/test_container.py (podman's networks, aliases)
check /usr/lib/podman/aardvark-dns aardvark-dns         t/test_container.py (the networks' DNS)
check iptables                 iptables                 t/test_container.py (netavark runs it)
check podman-compose           podman-compose           t/test_examples.py (every examples/*.yml, as written)
check pkg:python3-yaml         python3-yaml             t/test_examples.py (reads examples/*.yml); t/test_container_connect.py (examples/explicit-proxy.yml); t/test_kube.py
check catatonit                catatonit                t/test_kube.py (podman kube play's pods: their infra container's pause)
check nsenter                  util-linux               t/test_container.py (podman in the engine's namespaces)
check unshare                  util-linux               t/test_container.py (the engine's namespaces)
check promtool                 prometheus               t/test_prometheus.py (check metrics, check rules, test rules)
check musl-gcc                 musl-tools               t/test_image.py (Alpine's libc)
check /lib/ld-musl-*.so.1      musl                     t/test_image.py runs the musl build
bench socat                    socat                    bench/bench.py (the old image's engine)
bench wrk                      wrk                      bench/bench.py (connections/s, TLS connections/s)
bench iperf3                   iperf3                   bench/bench.py (bulk throughput)
bench haproxy                  haproxy                  bench/peers.py (the reference: nbthread 1 and 2)
bench /usr/lib/nginx/modules/ngx_stream_module.so libnginx-mod-stream bench/peers.py (nginx stream: the TCP and UDP peer)
bench h2load                   nghttp2-client           bench/bench.py (HTTP/2 over TLS, many small messages)
bench openssl                  openssl                  bench/peers.py (the TLS and HTTP/2 workloads' test CA)
bench squid                    squid                    bench/peers.py (the CONNECT workload's reference)
bench tinyproxy                tinyproxy                bench/peers.py (the CONNECT workload: a thread per connection)
bench pkg:libssl-dev           libssl-dev               bench/connectload.c (the CONNECT workload's client)
fuzz  clang                    clang                    fuzz/run.sh
fuzz  pkg:libclang-rt-14-dev   libclang-rt-14-dev       fuzz/run.sh: libFuzzer, clang's ASan (clang only recommends it)
cross aarch64-linux-gnu-gcc    gcc-aarch64-linux-gnu    Makefile (make cross)
cross pkg:libc6-dev-arm64-cross libc6-dev-arm64-cross   Makefile (make cross: libc.a for the static proxy)
cross pkg:libcurl4-openssl-dev:arm64 libcurl4-openssl-dev:arm64 Makefile (make cross: the healthcheck); t/cross.sh runs it (libcurl4:arm64, libc6:arm64)
cross pkg:check:arm64          check:arm64              Makefile (make cross: the unit suites)
cross qemu-aarch64-static      qemu-user-static         t/cross.sh, t/cross_e2e.py
fresh debootstrap              debootstrap              t/fresh.sh
fresh git                      git                      t/fresh.sh (the clone of HEAD)
fresh unshare                  util-linux               t/fresh.sh (namespaces)
EOF
}

# 0 when `what` (a program, a path glob or pkg:NAME) is here.
present() {
	case $1 in
	pkg:*)
		dpkg-query -W -f='${Status}' "${1#pkg:}" 2>/dev/null | grep -q "ok installed" ;;
	/*)
		# shellcheck disable=SC2086 # the glob expands here
		set -- $1
		[ -e "$1" ] ;;
	*)
		command -v "$1" >/dev/null ;;
	esac
}

# The packages of the groups asked for whose `what` is missing, once each.
missing() {
	audit | while read -r group what package _; do
		case " $groups " in *" $group "*) ;; *) continue ;; esac
		present "$what" || echo "$package"
	done | sort -u | tr '\n' ' '
}

for group in $groups; do
	case $group in
	build | check | bench | fuzz | fresh | cross) ;;
	*) echo "deps: unknown group $group (build, check, bench, fuzz, fresh, cross)" >&2; exit 2 ;;
	esac
done
packages=$(missing)
[ -z "$packages" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root, cannot install: $packages" >&2
	[ -z "${CI:-}" ] || exit 1
	exit 0
fi
echo "deps: installing $packages"
export DEBIAN_FRONTEND=noninteractive
# A package of another architecture (NAME:arm64): that architecture first.
for arch in $(echo "$packages" | tr ' ' '\n' | sed -n 's/^[^:]*:\([a-z0-9]*\)$/\1/p' | sort -u); do
	dpkg --print-foreign-architectures | grep -qx "$arch" || dpkg --add-architecture "$arch"
done
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $packages >/dev/null
# Services that start themselves on install where init scripts may run: the
# tests start their own in namespaces (vsftpd's port 21 and the bench's squid
# and tinyproxy on this host are not the tests'), so those are stopped.
for service in vsftpd squid tinyproxy; do
	case " $packages " in *" $service "*) service "$service" stop >/dev/null 2>&1 || true ;; esac
done
packages=$(missing)
if [ -n "$packages" ]; then
	echo "deps: still missing after apt-get install: $packages" >&2
	exit 1
fi
