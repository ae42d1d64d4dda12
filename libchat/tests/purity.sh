#!/bin/sh
# Purity check of the built libchat archive (DESIGN.md §2): its undefined
# symbols may only be libc memory/string/allocation functions and libsodium,
# and it may hold no writable data (global state). Sanitizer and coverage
# runtime symbols are allowed in instrumented builds.
# Usage: purity.sh path/to/libchat.a
set -eu
lib=$1
allowed='^(memcpy|memmove|memset|memcmp|bcmp|memchr|__memcpy_chk|__memmove_chk|__memset_chk|strlen|strcmp|strncmp|strchr|malloc|calloc|realloc|free|abort|__stack_chk_fail|__assert_fail|sodium_[a-z0-9_]*|crypto_[a-z0-9_]*|randombytes_[a-z0-9_]*|__(asan|ubsan|sanitizer|gcov|llvm|sancov)[A-Za-z0-9_]*|_GLOBAL_OFFSET_TABLE_)$'
bad=$(nm -u "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u | grep -Ev "$allowed" || true)
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
echo "imports: $(nm -u "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u | tr '\n' ' ')"
[ $status -eq 0 ] && echo "libchat is pure"
exit $status
