#!/bin/sh
# Run the libFuzzer harnesses.
#
#   fuzz/run.sh SECONDS [HARNESS...]   fuzz each harness (default: all) for
#                                      SECONDS and print, per harness,
#                                      executions, executions per second,
#                                      coverage (edges) and crashes
#   fuzz/run.sh --merge [HARNESS...]   regenerate the seeds (gen_corpus) and
#                                      minimise them, fuzz/corpus/<h> and what
#                                      earlier runs found (build/fuzz/work/<h>)
#                                      into fuzz/corpus/<h>: -merge=1 on edge
#                                      coverage (-use_counters=0), so it stays
#                                      small
#
# Builds with clang -DCHAT_FUZZ=ON into build/fuzz first, after
# scripts/deps.sh has installed whatever Debian packages are missing (the
# libraries the build needs, clang and its libFuzzer runtime). New inputs
# go to build/fuzz/work/<h>/corpus, never into the committed corpus; crash,
# leak and timeout inputs go to fuzz/crashes/<h>/ for triage (replay one
# with any build's fuzz_<h> binary; CHAT_FUZZ_TRACE=1 narrates the
# session). Once fixed, a crash input is kept as a regression in
# fuzz/corpus/<h>/regressions/<sha256> (never dropped by --merge; replayed
# by ctest like every corpus file). Exits non-zero if any harness crashed.
#
# Environment: FUZZ_JOBS=N runs N harnesses at a time (default 1);
# FUZZ_ARGS adds libFuzzer flags to every run.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
all="frame msg hub_raw client_raw hub_post_aead client_post_aead hub_ops transcript"
build=$root/build/fuzz

usage() {
    echo "usage: fuzz/run.sh SECONDS [HARNESS...] | fuzz/run.sh --merge [HARNESS...]" >&2
    echo "harnesses: $all" >&2
    exit 64
}

[ $# -ge 1 ] || usage
mode=run
case $1 in
--merge) mode=merge ;;
*[!0-9]* | '') usage ;;
*) seconds=$1 ;;
esac
shift
harnesses=${*:-$all}
for h in $harnesses; do
    case " $all " in *" $h "*) ;; *) echo "run.sh: unknown harness '$h'" >&2; usage ;; esac
done

# ---- dependencies, clang with libFuzzer ----------------------------------------
# The same packages as scripts/test.sh (libsodium-dev ..., clang,
# libclang-rt-14-dev); then check that clang really links libFuzzer.
scripts/deps.sh
probe() {
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
        >"$build/probe.c"
    clang -fsanitize=fuzzer,address,undefined "$build/probe.c" -o "$build/probe" >/dev/null 2>&1
}
mkdir -p "$build"
if ! command -v clang >/dev/null 2>&1 || ! probe; then
    echo "run.sh: clang cannot link -fsanitize=fuzzer (packages clang, libclang-rt-14-dev)" >&2
    exit 1
fi

# ---- build -------------------------------------------------------------------
echo "run.sh: building the harnesses (clang, -DCHAT_FUZZ=ON) in build/fuzz"
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCHAT_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" --target fuzz_all -j "$(nproc 2>/dev/null || echo 2)" \
    >"$build/build.log" 2>&1 || { tail -50 "$build/build.log" >&2; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# libFuzzer flags from fuzz/fuzz_<h>.options ([libfuzzer] key = value).
options() {
    f=$root/fuzz/fuzz_$1.options
    [ -f "$f" ] || return 0
    awk -v dir="$root/fuzz" '
        /^\[/ { sec = $0; next }
        sec == "[libfuzzer]" && /=/ {
            split($0, kv, "="); k = kv[1]; v = kv[2]
            gsub(/[ \t]/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
            if (k == "dict") v = dir "/" v
            printf "-%s=%s ", k, v
        }' "$f"
}

# ---- --merge: regenerate seeds, minimise the committed corpus ------------------
if [ "$mode" = merge ]; then
    rm -rf "$build/generated"
    "$build/fuzz/fuzz_gen_corpus" "$build/generated" "$root/conformance/transcripts"
    for h in $harnesses; do
        dir=$root/fuzz/corpus/$h
        new=$build/merge/$h
        rm -rf "$new"
        mkdir -p "$new" "$dir"
        found=$build/work/$h/corpus
        [ -d "$found" ] || found=""
        # shellcheck disable=SC2046,SC2086
        "$build/fuzz/fuzz_$h" $(options "$h") -merge=1 -use_counters=0 "$new" "$dir" \
            "$build/generated/$h" $found >"$build/merge-$h.log" 2>&1 ||
            { tail -30 "$build/merge-$h.log" >&2; exit 1; }
        # Seeds are replaced; regression inputs (corpus/<h>/regressions/)
        # are kept whatever their coverage, and not duplicated as seeds.
        find "$dir" -maxdepth 1 -type f -delete
        for f in "$new"/*; do
            [ -f "$f" ] || continue
            sum=$(sha256sum "$f" | cut -c1-64)
            [ -f "$dir/regressions/$sum" ] || cp "$f" "$dir/$sum"
        done
        echo "$h: $(find "$dir" -type f | wc -l) files, $(find "$dir" -type f -exec cat {} + | wc -c) bytes"
    done
    exit 0
fi

# ---- fuzz --------------------------------------------------------------------
run_one() {
    h=$1
    work=$build/work/$h
    art=$root/fuzz/crashes/$h
    mkdir -p "$work/corpus" "$art"
    before=$(ls "$art" | wc -l)
    rc=0
    # shellcheck disable=SC2046,SC2086
    "$build/fuzz/fuzz_$h" $(options "$h") -max_total_time="$seconds" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$art/" ${FUZZ_ARGS:-} \
        "$work/corpus" "$root/fuzz/corpus/$h" >"$work/log" 2>&1 || rc=$?
    after=$(ls "$art" | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
    crashes=$((after - before))
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    printf '%-18s %12s %10s %8s %8s\n' "$h" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$crashes" \
        >"$work/summary"
    if [ "$crashes" -ne 0 ]; then
        echo "run.sh: $h crashed (exit $rc); log: $work/log; inputs: $art" >&2
        grep -m5 -E 'ERROR|SUMMARY|fuzz check failed|runtime error' "$work/log" >&2 || true
    fi
}

jobs=${FUZZ_JOBS:-1}
echo "run.sh: $seconds s per harness, $jobs at a time"
running=0
for h in $harnesses; do
    run_one "$h" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait

printf '%-18s %12s %10s %8s %8s\n' harness executions exec/s edges crashes
failed=0
for h in $harnesses; do
    cat "$build/work/$h/summary"
    c=$(awk '{print $5}' "$build/work/$h/summary")
    [ "$c" = 0 ] || failed=1
done
exit $failed
