#!/bin/sh
# fuzz/run.sh: builds every fuzz/fuzz_NAME.c target with libFuzzer, ASan and
# UBSan, and runs each for FUZZ_SECONDS (default 60) seconds. A target lists
# the sources it needs on a line "// fuzz-sources: a.c b.c" at its top.
# Seeds: a target may write its own when run with FUZZ_WRITE_SEEDS=DIR (from
# LLVMFuzzerInitialize, then exit); a local fuzz/corpus_NAME/ (git-ignored)
# is read too when it exists. New inputs go to a scratch directory that is
# removed afterwards, so nothing generated lands in the tree; after a crash
# it is kept and its path printed.
# Prints libFuzzer's final figures per target; exits non-zero when a target
# fails to build or crashes.
#
# Usage: fuzz/run.sh [NAME...]   (default: every target; NAME as in fuzz_NAME.c)
# Environment: FUZZ_SECONDS, FUZZ_CC (default clang), FUZZ_MAX_LEN (default
# 8192), FUZZ_KEEP=1 to keep the scratch directories.
set -eu

cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
max_len=${FUZZ_MAX_LEN:-8192}
failed=0

# The sources a target declares, or nothing when it declares none.
target_sources() {
	sed -n 's|^// fuzz-sources:||p' "$1" | head -n 1
}

# Builds, runs and reports one target; returns non-zero on failure.
run_target() {
	target=$1
	name=$(basename "$target" .c)
	name=${name#fuzz_}
	bin=fuzz/fuzz_$name.bin
	seeds=fuzz/corpus_$name
	sources=$(target_sources "$target")
	echo "== fuzz_$name ($target $sources, ${seconds}s)"
	# shellcheck disable=SC2086 # $sources is a list of file names
	if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -std=c11 -I. "$target" $sources -o "$bin"; then
		echo "fuzz_$name: build failed" >&2
		return 1
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz_$name.XXXXXX")
	mkdir "$work/corpus" "$work/artifacts" "$work/seeds"
	# A target without the seed hook just runs zero inputs here.
	FUZZ_WRITE_SEEDS="$work/seeds" "./$bin" -runs=0 >"$work/seeds.log" 2>&1 || true
	echo "fuzz_$name: $(find "$work/seeds" -type f | wc -l) generated seeds"
	if [ ! -d "$seeds" ]; then
		seeds=
	fi
	status=0
	# shellcheck disable=SC2086 # $seeds is empty or one directory
	"./$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seeds" $seeds \
		>"$work/log" 2>&1 || status=$?
	# The last status line (execs, cov, ft, corpus) and the final stats.
	grep -E '^#[0-9]+' "$work/log" | tail -n 1
	grep -E '^(stat::|Done )' "$work/log" || true
	if [ "$status" -ne 0 ]; then
		tail -n 60 "$work/log"
		echo "fuzz_$name: failed (exit $status); log and crash inputs kept in $work" >&2
		ls "$work/artifacts" >&2
		return 1
	fi
	if [ "${FUZZ_KEEP:-0}" = 1 ]; then
		echo "fuzz_$name: kept $work"
	else
		rm -rf "$work"
	fi
}

found=0
if [ "$#" -eq 0 ]; then
	set -- fuzz/fuzz_*.c
else
	for name in "$@"; do
		shift
		set -- "$@" "fuzz/fuzz_$name.c"
	done
fi
for target in "$@"; do
	[ -e "$target" ] || continue
	found=1
	run_target "$target" || failed=1
done
if [ "$found" = 0 ]; then
	echo "fuzz/run.sh: no fuzz/fuzz_*.c target" >&2
	exit 1
fi
exit "$failed"
