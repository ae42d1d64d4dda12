#!/bin/sh
# Purity check of the built libchat archive (DESIGN.md §2): its undefined
# symbols may only be libc memory/string/allocation functions and libsodium,
# and it may hold no writable data (global state). Sanitizer and coverage
# runtime symbols are allowed in instrumented builds.
# Usage: purity.sh path/to/libchat.a
set -eu
lib=$1
allowed='^(memcpy|memmove|memset|memcmp|bcmp|memchr|__memcpy_chk|__memmove_chk|__memset_chk|strlen|strcmp|strncmp|strchr|malloc|calloc|realloc|free|abort|__stack_chk_fail|__assert_fail|sodium_[a-z0-9_]*|crypto_[a-z0-9_]*|randombytes_[a-z0-9_]*|__(asan|ubsan|sanitizer|gcov|llvm|sancov)[A-Za-z0-9_]*|_GLOBAL_OFFSET_TABLE_)$'
# Undefined symbols of the archive as a whole: those of every member, less
# those another member defines.
nm --defined-only "$lib" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u > "${TMPDIR:-/tmp}/purity.def.$$"
imports=$(nm -u "$lib" | awk 'NF >= 2 && $(NF-1) == "U" {print $NF}' | sed 's/@.*//' | sort -u |
          comm -23 - "${TMPDIR:-/tmp}/purity.def.$$")
rm -f "${TMPDIR:-/tmp}/purity.def.$$"
[ -n "$imports" ] || { echo "nm found no imports in $lib: cannot check"; exit 1; }
bad=$(printf '%s\n' "$imports" | grep -Ev "$allowed" | grep -v '^$' || true)
status=0
if [ -n "$bad" ]; then
    echo "libchat imports functions outside libc memory/string/allocation and libsodium:"
    echo "$bad" | sed 's/^/  /'
    status=1
fi
if ! nm "$lib" | grep -q '__asan\|__gcov\|__llvm_prof\|__sancov'; then
    data=$(nm -A "$lib" | awk '$(NF-1) ~ /^[BbDdCcGgSsVv]$/ {print $NF " (" $1 ")"}')
    if [ -n "$data" ]; then
        echo "libchat holds writable data (global state):"
        echo "$data" | sed 's/^/  /'
        status=1
    fi
fi
echo "imports:" $imports
[ $status -eq 0 ] && echo "libchat is pure"
exit $status
