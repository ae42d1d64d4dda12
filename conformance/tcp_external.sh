#!/bin/sh
# The TCP adapter against a running server it neither starts nor
# configures (chat-conformance --tcp HOST:PORT --admin-user ...): starts one
# chatd on an ephemeral loopback port with a temporary state directory and
# an admin account, runs the transcript groups that do not depend on a
# fresh server, then kills chatd by its PID (docs/TRANSCRIPTS.md §10).
# Usage: tcp_external.sh CHATD CHAT-CONFORMANCE TRANSCRIPTS-DIR
set -eu
chatd=$1 conformance=$2 transcripts=$3
dir=$(mktemp -d "${TMPDIR:-/tmp}/cf-tcp-XXXXXX")
pid=
# shellcheck disable=SC2317 # called through the trap
cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -m 700 "$dir/state"
: >"$dir/chatd.conf"
echo "conformance-admin-pw" >"$dir/admin.pw"
chmod 600 "$dir/admin.pw"
# The server of the suite's defaults; failed-login limits raised, since one
# server serves every transcript.
pdeath=
if command -v setpriv >/dev/null 2>&1; then pdeath="setpriv --pdeathsig KILL"; fi
# shellcheck disable=SC2086
$pdeath "$chatd" --config "$dir/chatd.conf" --state-dir "$dir/state" \
    --listen 127.0.0.1 --port 0 --port-file "$dir/port" \
    --admin cfroot --admin-password-file "$dir/admin.pw" \
    --set default_rooms= --set min_opslimit=1 --set min_memlimit_kib=8 \
    --set max_connections_per_address=1000 \
    --set login_failures_per_user=1000000 --set login_failures_per_address=1000000 \
    --set drain_timeout=1s >"$dir/chatd.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$dir/port" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "tcp_external.sh: chatd did not start:" >&2
        cat "$dir/chatd.log" >&2
        exit 1
    fi
    sleep 0.05
done
port=$(cat "$dir/port")
status=0
timeout 120 "$conformance" --tcp "127.0.0.1:$port" --admin-user cfroot \
    --admin-pass-file "$dir/admin.pw" \
    --only handshake/ --only limits/ --only login/ --only state/ "$transcripts" || status=$?
exit $status
