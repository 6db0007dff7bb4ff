#!/usr/bin/env bash
# Runs every fuzz target (or those named) for FUZZ_SECONDS each, or FUZZ_RUNS executions each
# when set (the short variant in `make test`), starting from seeds made from the repository's
# fixtures plus the corpus kept from earlier runs in .build-fuzz/corpus/<Target>. A crash,
# a failed property, a leak or a timeout fails the target; its reproducer stays in
# .build-fuzz/artifacts/<Target>/ (replay: .build-fuzz/fuzz-<Target> <file>).
# Builds first (Fuzz/build.sh). Exit status: non-zero if any target failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${FUZZ_OUT:-.build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_RUNS=${FUZZ_RUNS:-}
FUZZ_ARGS=${FUZZ_ARGS:-}
bash Fuzz/build.sh "$@" || exit 1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    # A target is a folder of Swift sources (seeds/ and regressions/ hold inputs; Support/ is shared).
    targets=($(cd Fuzz && for d in */; do [ "$d" != Support/ ] && compgen -G "$d*.swift" >/dev/null && echo "${d%/}"; done; true))
fi
rm -rf "$OUT/seeds"
python3 Fuzz/seed.py "$OUT/seeds" || exit 1
# Swift's own backtracer would wait on a crashed process; libFuzzer prints the stack itself.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t" "$OUT/logs"
    if [ -n "$FUZZ_RUNS" ]; then limit=(-runs="$FUZZ_RUNS"); else limit=(-max_total_time="$FUZZ_SECONDS"); fi
    log="$OUT/logs/$t.log"
    echo "fuzz $t: ${limit[*]}"
    "$OUT/fuzz-$t" "${limit[@]}" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$t/" $FUZZ_ARGS "$OUT/corpus/$t" "$OUT/seeds/$t" </dev/null >"$log" 2>&1
    rc=$?
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)|^Done|cov: ' "$log" | tail -6 | sed "s/^/  /"
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        echo "fuzz $t: FAILED (exit $rc); log $log, reproducer:" >&2
        ls "$OUT/artifacts/$t" >&2
        grep -E 'Fatal error|ERROR: AddressSanitizer|ERROR: LeakSanitizer|ERROR: libFuzzer|SUMMARY' "$log" | head -5 >&2
    fi
done
if [ ${#failed[@]} -ne 0 ]; then echo "fuzz: FAILED: ${failed[*]}" >&2; exit 1; fi
echo "fuzz: all ${#targets[@]} targets passed"
