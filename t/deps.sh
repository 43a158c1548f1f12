#!/bin/sh
# Installs the Debian packages that building and testing need, when some are
# missing and we are root; otherwise says what is missing (tests that need it
# then skip and say so).
set -eu

# Usage: t/deps.sh [extra packages...] (make bench adds wrk, iperf3, haproxy, openssl).
packages="gcc make pkg-config check libcurl4-openssl-dev python3 iproute2 nginx-light
dnsmasq-base socat curl $*"
missing=""
for package in $packages; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root, cannot install:$missing" >&2
	exit 0
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing >/dev/null
