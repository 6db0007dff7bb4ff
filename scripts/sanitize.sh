#!/usr/bin/env bash
# Builds Respite and respite-maintsim under a sanitizer and runs tests against those builds:
#   scripts/sanitize.sh asan [full|quick]   AddressSanitizer + LeakSanitizer (.build-asan)
#   scripts/sanitize.sh tsan [full|quick]   ThreadSanitizer (.build-tsan)
# `full` (make asan / make tsan) runs every test that applies; `quick` (make test) a subset
# chosen for the untrusted-input and threaded paths (docs/reliability.md, "Sanitizers").
# A sanitizer report from any process fails the run: the black-box suite's processes write
# theirs to .build-<kind>/reports/ (respite must exit cleanly on SIGTERM for LeakSanitizer to
# speak), unit tests to the console. Suppressions, if ever needed: scripts/sanitizers/<kind>.supp.
set -uo pipefail
cd "$(dirname "$0")/.."
kind=${1:?asan or tsan}
scope=${2:-full}
SWIFT=${SWIFT:-swift}
PYTHON=${PYTHON:-python3}

case "$kind" in
asan)
    flag=address
    # Unit tests: everything in full; none in quick (a debug ASan build of them costs 60-80 s,
    # and the fuzz targets in make test already run those modules' parsers under ASan).
    quick_unit='-'
    # Black-box: hostile and malformed input, limits, deep and odd replies, client churn, a slow
    # upstream (~60 s). The maintenance scenarios (80 s more) run under TSan in make test.
    quick_py="tests/test_bad_input.py tests/test_strict_frames.py tests/test_bounds.py tests/test_deep_reply.py
              tests/test_resp_corpus.py tests/test_client_kill.py tests/test_slow_server.py"
    full_py="tests"
    ;;
tsan)
    flag=thread
    # Only the simulator runs threads (its fault injector's action workers, and the in-process
    # simulator of its unit tests); Respite is one event loop, run here under TSan for the
    # libevent and signal paths it shares with them. Quick: the maintenance scenarios, where
    # respite-maintsim's workers run against its loop thread (no unit tests: a debug TSan
    # build of them costs ~80 s).
    quick_unit='-'
    full_unit='MaintenanceSimulatorTests|RespiteMaintenanceTests|RespiteLoadTests'
    quick_py="tests/test_maintenance.py"
    full_py="tests/test_maintenance.py tests/test_upstream.py tests/test_slow_server.py"
    ;;
*) echo "usage: $0 asan|tsan [full|quick]" >&2; exit 2 ;;
esac

scratch=.build-$kind
reports=$PWD/$scratch/reports
supp=$PWD/scripts/sanitizers/$kind.supp
rm -rf "$reports"; mkdir -p "$reports"
export SWIFT_BACKTRACE=enable=no
common=""
if [ "$kind" = asan ]; then
    # A small quarantine and prompt release of freed pages: tests/test_bounds.py checks that
    # Respite's RSS returns near its baseline after a cut client, which ASan's default 256 MB
    # quarantine (freed memory held back to catch use-after-free) would hide.
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:quarantine_size_mb=16:allocator_release_to_os_interval_ms=100"
    [ -f "$supp" ] && export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
    report_opt=ASAN_OPTIONS
else
    export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1"
    [ -f "$supp" ] && TSAN_OPTIONS="$TSAN_OPTIONS:suppressions=$supp"
    report_opt=TSAN_OPTIONS
fi

rc=0
t0=$(date +%s)
echo "$kind: swift build -c release -Xswiftc -sanitize=$flag --scratch-path $scratch"
$SWIFT build -c release -Xswiftc -sanitize=$flag --scratch-path "$scratch" || exit 1
t1=$(date +%s)

unit_filter=${quick_unit}
[ "$scope" = full ] && unit_filter=${full_unit:-}
[ "$unit_filter" != "-" ] && echo "$kind: swift test -Xswiftc -sanitize=$flag --scratch-path $scratch ${unit_filter:+--filter '$unit_filter'}"
# TSan exits 66 when it reported anything; ASan aborts the test process.
if [ "$unit_filter" = "-" ]; then
    :
elif [ "$kind" = tsan ]; then
    out=$($SWIFT test -Xswiftc -sanitize=$flag --scratch-path "$scratch" ${unit_filter:+--filter "$unit_filter"} 2>&1); trc=$?
    echo "$out" | grep -E "Executed|error|WARNING: ThreadSanitizer|SUMMARY" | tail -20
    if [ $trc -ne 0 ] || echo "$out" | grep -q "WARNING: ThreadSanitizer"; then
        echo "$out" | grep -A40 "WARNING: ThreadSanitizer" | head -120; rc=1
    fi
else
    # Leaks are not checked in the unit-test process: its one direct leak is XCTest's own (the
    # weak-reference side table of awaitUsingExpectation), and every test case, TestRedisServer
    # and Foundation.Process hangs off it as an "indirect leak" no narrow suppression removes.
    # Respite's code is leak-checked in the respite and respite-maintsim processes below.
    ASAN_OPTIONS="${ASAN_OPTIONS/detect_leaks=1/detect_leaks=0}" \
        $SWIFT test -Xswiftc -sanitize=$flag --scratch-path "$scratch" ${unit_filter:+--filter "$unit_filter"} \
        >"$scratch/unit.log" 2>&1 || rc=1
    grep -v "^Test Case .* passed\|^Test Suite .* started\|^Test Suite .* passed" "$scratch/unit.log"
fi
t2=$(date +%s)

py=$quick_py
[ "$scope" = full ] && py=$full_py
echo "$kind: RESPITE_BIN=$scratch/release/respite $PYTHON -m pytest $(echo $py) -q"
# Every respite and respite-maintsim the suite starts writes its reports to $reports.
export $report_opt="${!report_opt}:log_path=$reports/$kind"
# Three tests wait for Respite's RSS to return near its baseline after a cut client: under a
# sanitizer's own allocator (quarantine, shadow memory, pages kept) that measures the runtime,
# not Respite, so they run in the plain suite only.
rss_tests="test_blocked_client_pipelining_local_commands_is_held_back or test_non_reading_normal_client_is_cut_at_its_hard_limit"
rss_tests="$rss_tests or test_non_reading_subscriber_is_cut_at_redis_pubsub_default"
RESPITE_BIN=$PWD/$scratch/release/respite $PYTHON -m pytest $py -q -p no:cacheprovider -k "not ($rss_tests)" || rc=1
t3=$(date +%s)
if ls "$reports"/* >/dev/null 2>&1; then
    echo "$kind: sanitizer reports from the black-box suite's processes:" >&2
    for f in "$reports"/*; do echo "--- $f" >&2; head -60 "$f" >&2; done
    rc=1
fi
echo "$kind ($scope): build $((t1 - t0)) s, swift test $((t2 - t1)) s, pytest $((t3 - t2)) s; $([ $rc -eq 0 ] && echo passed || echo FAILED)"
exit $rc
