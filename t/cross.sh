#!/bin/sh
# t/cross.sh DIR: runs an aarch64 build (`make cross` makes it in DIR) here:
# checks that the programs are aarch64 ELF files, runs every Check suite and
# a small end-to-end test (t/cross_e2e.py: one TCP relay, one UDP session,
# the healthcheck) under qemu-aarch64-static, and prints the figures that
# docs/arm64.md quotes. On an aarch64 host the programs run natively.
#
# qemu is called explicitly (binfmt_misc need not be registered). The
# dynamic programs (healthcheck, t/unit) find their loader and libraries
# where Debian's multiarch puts them (libc6:arm64, libcurl4:arm64, pulled in
# by t/deps.sh cross), so no -L is given: with -L /usr/aarch64-linux-gnu the
# cross toolchain's loader met the multiarch libc and fork() hung.
set -eu
dir=${1:?usage: t/cross.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
EM_AARCH64=183	# ELF e_machine of aarch64

if [ "$(uname -m)" = aarch64 ]; then
	qemu=
else
	qemu="qemu-aarch64-static"
	command -v "$qemu" >/dev/null || { echo "cross: $qemu is missing (t/deps.sh cross)" >&2; exit 1; }
fi

for program in whitelist healthcheck t/unit; do
	machine=$(od -An -tu2 -j18 -N2 "$dir/$program" | tr -d ' ')
	if [ "$machine" != "$EM_AARCH64" ]; then
		echo "cross: $dir/$program is not an aarch64 program (ELF machine $machine)" >&2
		exit 1
	fi
done
echo "cross: aarch64 programs: whitelist $(wc -c <"$dir/whitelist") bytes (static)," \
	"healthcheck $(wc -c <"$dir/healthcheck") bytes (dynamic, libcurl)"

# The Check suites, their own timeouts stretched tenfold (an emulated CPU on a
# busy host is slow, not wrong). Two failures are qemu-user's, not ours, and are expected:
# test_reads_itself reads /proc/<own pid>/stat, which qemu answers itself
# (state "0", its own start time). proc_stat_read_self, which the proxy
# uses, reads the kernel's line and is tested by test_reads_itself_as_others_do.
# test_a_grown_table_is_not_inherited_by_children: qemu-user takes madvise
# for a hint and ignores MADV_DONTFORK (it returns 0): a forked child keeps
# the mapping. That costs memory under emulation, nothing else.
expected="test_reads_itself|test_a_grown_table_is_not_inherited_by_children"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
status=0
(cd "$dir" && CK_DEFAULT_TIMEOUT=120 CK_TIMEOUT_MULTIPLIER=10 $qemu ./t/unit) >"$log" 2>&1 || status=$?
units_s=$(($(date +%s) - start))
summary=$(grep -E '^[0-9]+%: Checks:' "$log" || true)
failures=$(grep -E '^[^ ]+:[0-9]+:[FE]:' "$log" || true)
unexpected=$(printf '%s\n' "$failures" | grep -v -E "^[^:]+:[0-9]+:F:[^:]+:($expected):" |
	grep . || true)
if [ -z "$summary" ] || [ -n "$unexpected" ]; then
	cat "$log" >&2
	echo "cross: the unit suites failed under ${qemu:-the host} (status $status)" >&2
	exit 1
fi
echo "cross: units under ${qemu:-the host}: $summary, in ${units_s}s"
if [ -n "$failures" ]; then
	echo "cross: expected under qemu-user (it answers /proc/<own pid>/stat itself," \
		"and ignores MADV_DONTFORK):"
	printf '%s\n' "$failures" | sed 's/^/  /'
fi

start=$(date +%s)
if [ -n "$qemu" ]; then
	python3 "$here/cross_e2e.py" "$dir" "$qemu"
else
	python3 "$here/cross_e2e.py" "$dir" env
fi
echo "cross: end-to-end under ${qemu:-the host}: passed in $(($(date +%s) - start))s"
