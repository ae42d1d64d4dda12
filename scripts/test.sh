#!/bin/sh
# The whole test suite, as CI runs it: installs missing Debian packages, then
# configures, builds and runs ctest twice, then fuzzes briefly:
#   build/werror    gcc, warnings are errors
#   build/sanitize  clang, AddressSanitizer + UndefinedBehaviorSanitizer
#                   (LeakSanitizer included), warnings are errors
#   fuzz            fuzz/run.sh: every libFuzzer harness for $FUZZ_SECONDS
#                   (default 20), two at a time; fails on any crash, leak
#                   or sanitizer report (inputs in fuzz/crashes/)
# Usage: scripts/test.sh [werror|sanitize|fuzz]...   (default: all three)
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
configs=${*:-werror sanitize fuzz}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=${LSAN_OPTIONS:-}

for cfg in $configs; do
    case $cfg in
    werror) cc=gcc; extra="" ;;
    sanitize) cc=clang; extra="-DCHAT_SANITIZE=ON" ;;
    fuzz)
        echo "=== fuzz: ${FUZZ_SECONDS:-20} s per harness ==="
        FUZZ_JOBS=${FUZZ_JOBS:-2} fuzz/run.sh "${FUZZ_SECONDS:-20}"
        continue ;;
    *) echo "test.sh: unknown configuration '$cfg' (werror, sanitize, fuzz)" >&2; exit 64 ;;
    esac
    echo "=== $cfg: configure ($cc) ==="
    # shellcheck disable=SC2086
    cmake -S . -B "build/$cfg" -DCMAKE_C_COMPILER=$cc -DCHAT_WERROR=ON $extra >/dev/null
    echo "=== $cfg: build ==="
    cmake --build "build/$cfg" -j "$jobs"
    echo "=== $cfg: test ==="
    ctest --test-dir "build/$cfg" --output-on-failure -j "$jobs"
done
