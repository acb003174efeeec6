#!/bin/sh
# fuzz.sh — run every libFuzzer target for a bounded time with its committed seed corpus.
#
#   scripts/fuzz.sh BUILD_DIR SECONDS
#
# Targets are BUILD_DIR/fuzz-* or BUILD_DIR/fuzz/fuzz-* (where `make FUZZ=1` puts them).
# Each runs SECONDS seconds (-max_total_time) over fuzz/corpus/<target>/ (read only: new inputs
# go to a scratch directory) with the input size bounded, under the sanitizers it was built
# with. A crash, leak, timeout or sanitizer report fails the run; the reproducer is kept in
# BUILD_DIR/fuzz-artifacts/ and its path printed.
set -eu

dir=${1:?usage: fuzz.sh BUILD_DIR SECONDS}
secs=${2:?usage: fuzz.sh BUILD_DIR SECONDS}
top=$(cd "$(dirname "$0")/.." && pwd)

targets=$(find -L "$dir" "$dir/fuzz" -maxdepth 1 -type f -name 'fuzz-*' -perm -u+x \
	2>/dev/null | sort -u || true)
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz target in $dir" >&2
	exit 1
fi

artifacts="$dir/fuzz-artifacts"
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT INT TERM

failed=0
for t in $targets; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	seeds="$top/fuzz/corpus/$name"
	work="$scratch/$name"
	mkdir -p "$work"
	set -- "$work"
	[ -d "$seeds" ] && set -- "$work" "$seeds"
	echo "fuzz.sh: $name for ${secs}s ($(ls "$seeds" 2>/dev/null | wc -l) seeds)"
	if ! ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
	     UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
	     "$t" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	          -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$@" \
	          >"$scratch/$name.log" 2>&1; then
		echo "fuzz.sh: $name FAILED; the last lines of its log:" >&2
		tail -n 40 "$scratch/$name.log" >&2
		ls "$artifacts/$name-"* 2>/dev/null | sed 's/^/fuzz.sh: reproducer: /' >&2
		failed=1
	else
		grep -E '^stat::number_of_executed_runs|^Done [0-9]+ runs' "$scratch/$name.log" |
			sed "s/^/fuzz.sh: $name: /" || true
	fi
done
exit $failed
