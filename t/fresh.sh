#!/bin/sh
# t/fresh.sh: `make fresh`, the newcomer's path end to end. Builds a minimal
# Debian 12 root (debootstrap --variant=minbase, plus git, make and gcc, and
# the /etc/hosts the installer writes), clones the committed tree into it (a
# clone of HEAD: what is not committed is not tested), and runs `make check`
# there as root with CI=1, which installs what else it needs and fails on a
# test that cannot run.
#
# The root is entered in namespaces of its own: a mount namespace (unshare)
# switched to with pivot_root, as a container engine does (a bare chroot
# leaves the host's /proc and /run/netns in view, and `ip netns` needs its
# own /run/netns with a propagation it can set), and a PID namespace, so that
# nothing started inside outlives it. It mounts proc, sysfs with the host's
# cgroup hierarchy (bound: it may be v1, v2 or both, and podman will want it),
# the host's /dev with a private /dev/shm, tmpfs on /run and /tmp, and copies
# the host's resolv.conf so apt works. The network namespace is the host's:
# apt needs it, and the tests make namespaces of their own. Every mount is
# made in a private mount namespace (debootstrap's too), so the host's mount
# table never changes, and the root is removed on every exit path, Ctrl-C
# included.
#
# Root only. Environment:
#   FRESH_KEEP=1       keep the root afterwards, for a look inside (path printed)
#   FRESH_TARBALL=F    cache the packages: debootstrap --make-tarball=F the first
#                      time, --unpack-tarball=F on later runs (default: none, a
#                      truly fresh download)
#   FRESH_MIRROR=URL   default http://deb.debian.org/debian (security updates
#                      from its sibling .../debian-security)
#   FRESH_PARENT=DIR   where the root is made (default /var/tmp)
#   FRESH_MAKE=ARGS    make's arguments inside (default check), e.g.
#                      "fuzz FUZZ_SECONDS=5" or asan
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
include=git,make,gcc

# Stage two runs as PID 1 of the new namespaces, in a private mount namespace:
# mounts the API file systems into the root, pivots into it and runs make.
if [ "${1:-}" = --inside ]; then
	root=$2
	shift 2
	mount --make-rprivate /
	mount --bind "$root" "$root"	# pivot_root wants a mount point
	mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
	mount -t sysfs -o nosuid,nodev,noexec sysfs "$root/sys"
	mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
	mount --rbind /dev "$root/dev"
	mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"
	mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs "$root/run"
	mkdir -m 1777 "$root/run/lock"
	mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/tmp"
	cd "$root"
	mkdir .old-root
	pivot_root . .old-root
	cd /
	umount -l /.old-root
	rmdir /.old-root
	# A login's environment: no variable of the host's but the terminal.
	# This shell stays PID 1 (no exec): it reaps what the tests orphan.
	env -i HOME=/root TERM="${TERM:-dumb}" CI=1 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		sh -c 'cd /root/whitelist && make "$@"' sh "$@"
	exit
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "fresh: needs root (debootstrap, namespaces)" >&2
	exit 1
fi
"$top/t/deps.sh" fresh

rev=$(git -C "$top" rev-parse HEAD)
if [ -n "$(git -C "$top" status --porcelain --untracked-files=no)" ]; then
	echo "fresh: uncommitted changes are not tested: the root gets HEAD, $rev"
fi
work=$(mktemp -d "${FRESH_PARENT:-/var/tmp}/whitelist-fresh.XXXXXX")
root=$work/root
log=$work/debootstrap.log
inside=""

# shellcheck disable=SC2317 # run by the EXIT trap
# Ends what runs inside (the PID namespace dies with its first process), then
# removes the root, on every path.
cleanup() {
	status=$?
	trap - EXIT INT TERM HUP
	if [ -n "$inside" ]; then
		kill -KILL "$inside" 2>/dev/null || true
		wait "$inside" 2>/dev/null || true
	fi
	# Nothing was mounted here from this namespace; this is a second guard.
	grep -F " $work/" /proc/self/mountinfo | cut -d' ' -f5 | sort -r |
		while read -r point; do umount -l "$point" || true; done
	if [ "${FRESH_KEEP:-0}" = 1 ]; then
		echo "fresh: root kept in $root (rm -rf $work when done)"
	else
		rm -rf --one-file-system "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

started=$(date +%s)
echo "fresh: debootstrap $suite ($mirror) into $root"
bootstrap="--variant=minbase --include=$include"
if [ -n "${FRESH_TARBALL:-}" ]; then
	tarball=$(realpath -m "$FRESH_TARBALL")
	if [ ! -f "$tarball" ]; then
		echo "fresh: caching the packages in $tarball"
		# shellcheck disable=SC2086 # $bootstrap: several options
		unshare --mount debootstrap $bootstrap --make-tarball="$tarball" \
			"$suite" "$work/make-tarball" "$mirror" >"$log" 2>&1 ||
			{ tail -n 20 "$log"; rm -f "$tarball"; exit 1; }
		rm -rf "$work/make-tarball"
	fi
	bootstrap="$bootstrap --unpack-tarball=$tarball"
fi
# shellcheck disable=SC2086 # $bootstrap: several options
unshare --mount debootstrap $bootstrap "$suite" "$root" "$mirror" >"$log" 2>&1 ||
	{ tail -n 20 "$log"; exit 1; }

# What a Debian 12 installation has that debootstrap leaves out.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
cat >"$root/etc/hosts" <<EOF
127.0.0.1	localhost
127.0.1.1	debian

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
EOF
echo debian >"$root/etc/hostname"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# Services that packages start are not started: they would run in the host's
# network namespace, outside the tests' own (Debian's container images do the same).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# --no-local: as a clone over the network, no object hard-linked to ours.
git clone -q --no-local --no-checkout "$top" "$root/root/whitelist"
git -C "$root/root/whitelist" checkout -q --detach "$rev"
args=${FRESH_MAKE:-check}
echo "fresh: root ready in $(($(date +%s) - started)) s; make $args in a clone of $rev"

# shellcheck disable=SC2086 # $args: make's arguments, one word each
unshare --mount --pid --fork --kill-child -- "$top/t/fresh.sh" --inside "$root" $args &
inside=$!
status=0
wait "$inside" || status=$?
inside=""
echo "fresh: make $args exited $status after $(($(date +%s) - started)) s in all"
exit "$status"
