#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/<Target>/*.swift) into .build-fuzz/ with swiftc alone:
# the modules under test are compiled with coverage instrumentation and ASan
# (-sanitize=fuzzer,address), then each target links against them. Package.swift knows nothing
# of this, so `swift build` and `swift test` are unaffected. Usage: Fuzz/build.sh [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
# FUZZ_SANITIZERS=fuzzer builds without ASan (several times the executions per second, for
# long runs; Swift's own bounds checks still trap), into FUZZ_OUT.
OUT=${FUZZ_OUT:-.build-fuzz}
SWIFTC=${SWIFTC:-swiftc}
FLAGS=(-O -sanitize=${FUZZ_SANITIZERS:-fuzzer,address} -parse-as-library -enforce-exclusivity=unchecked -g)
mkdir -p "$OUT/modules"

module() {  # module NAME [imports...]: one object file and its .swiftmodule, testable
    local name=$1
    "$SWIFTC" "${FLAGS[@]}" -enable-testing -wmo -c -module-name "$name" -emit-module \
        -emit-module-path "$OUT/modules/$name.swiftmodule" -I "$OUT/modules" \
        Sources/"$name"/*.swift -o "$OUT/modules/$name.o"
}

module RESP
module RespiteConfig
module RespiteMaintenance

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    # A target is a folder of Swift sources (seeds/ and regressions/ hold inputs; Support/ is shared).
    targets=($(cd Fuzz && for d in */; do [ "$d" != Support/ ] && compgen -G "$d*.swift" >/dev/null && echo "${d%/}"; done; true))
fi
for t in "${targets[@]}"; do
    echo "fuzz target $t"
    "$SWIFTC" "${FLAGS[@]}" -I "$OUT/modules" -module-name "Fuzz$t" \
        Fuzz/Support/*.swift Fuzz/"$t"/*.swift \
        "$OUT/modules/RESP.o" "$OUT/modules/RespiteConfig.o" "$OUT/modules/RespiteMaintenance.o" \
        -o "$OUT/fuzz-$t" 2> >(grep -v "Cannot export local symbol '__asan" >&2)
done
