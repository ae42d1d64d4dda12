#!/bin/sh
# Fails if the systemd unit's exposure, as rated by
# `systemd-analyze security --offline=yes`, is above a threshold.
# Usage: unit_security.sh UNIT-FILE [MAX]   (MAX defaults to 2.0)
# Exit 77 (ctest: skipped) when systemd-analyze is not installed.
set -u
unit=$1
max=${2:-2.0}
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "SKIP: systemd-analyze is not installed (package systemd); cannot rate $unit"
    exit 77
fi
out=$(systemd-analyze security --offline=yes "$unit" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -v '^✓'
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
    echo "FAIL: no 'Overall exposure level' line from systemd-analyze (exit status $rc)"
    exit 1
fi
if awk -v l="$level" -v m="$max" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
    echo "PASS: exposure $level <= $max"
    exit 0
fi
echo "FAIL: exposure $level > $max: a hardening directive was removed from $unit?"
exit 1
