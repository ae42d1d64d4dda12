#!/bin/sh
# chatbench smoke test (ctest): a real chatd on an ephemeral loopback port
# with a temporary state directory; chatbench creates accounts, then runs
# seconds-long fanout, rate, login and idle runs. Each must exit 0 and
# print one RESULT line with errors=0. A run against accounts that do not
# exist must fail. No timing is asserted: this keeps chatbench working,
# it measures nothing.
#
# Usage: smoke.sh CHATD CHATBENCH
set -eu
CHATD=$1
CHATBENCH=$2

TMP=$(mktemp -d "${TMPDIR:-/tmp}/chatbench-smoke.XXXXXX")
CHATD_PID=''
cleanup() {
    if [ -n "$CHATD_PID" ]; then
        kill "$CHATD_PID" 2>/dev/null || true
        wait "$CHATD_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "chatbench smoke: $*" >&2
    for f in "$TMP"/run.err "$TMP"/chatd.log; do
        [ -f "$f" ] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

umask 077
printf 'admin-smoke-pw\n' >"$TMP/admin.pw"
printf 'bench-smoke-pw\n' >"$TMP/user.pw"
# The cheapest verifiers libchat allows, room for every connection from
# 127.0.0.1, and no default room (every login would join it).
cat >"$TMP/chatd.conf" <<CONF
min_opslimit = 1
min_memlimit_kib = 8
max_connections = 256
max_connections_per_address = 256
default_rooms =
log_level = warn
CONF

"$CHATD" --config "$TMP/chatd.conf" --state-dir "$TMP/state" --listen 127.0.0.1 --port 0 \
    --port-file "$TMP/port" --admin-password-file "$TMP/admin.pw" \
    </dev/null >/dev/null 2>"$TMP/chatd.log" &
CHATD_PID=$!
i=0
while [ ! -s "$TMP/port" ]; do
    kill -0 "$CHATD_PID" 2>/dev/null || fail "chatd exited at start"
    i=$((i + 1))
    [ "$i" -le 600 ] || fail "chatd did not listen within 60 s"
    sleep 0.1
done
PORT=$(cat "$TMP/port")
COMMON="--proto chat --host 127.0.0.1 --port $PORT --trust accept --timeout 60"

"$CHATBENCH" $COMMON --setup --admin-user admin --admin-password-file "$TMP/admin.pw" \
    --count 24 --user-prefix smoke --password-file "$TMP/user.pw" >"$TMP/run.out" 2>"$TMP/run.err" ||
    fail "setup failed"
grep -q '^SETUP .*accounts=24 created=24 existing=0 ' "$TMP/run.out" ||
    fail "unexpected SETUP line: $(cat "$TMP/run.out")"
cat "$TMP/run.out"
# Idempotent: the accounts exist now.
"$CHATBENCH" $COMMON --setup --admin-user admin --admin-password-file "$TMP/admin.pw" \
    --count 24 --user-prefix smoke --password-file "$TMP/user.pw" >"$TMP/run.out" 2>"$TMP/run.err" ||
    fail "second setup failed"
grep -q '^SETUP .*accounts=24 created=0 existing=24 ' "$TMP/run.out" ||
    fail "unexpected second SETUP line: $(cat "$TMP/run.out")"

# run NAME ARGS...: one chatbench run that must succeed
run() {
    name=$1
    shift
    "$CHATBENCH" $COMMON --server-pid "$CHATD_PID" --user-prefix smoke \
        --password-file "$TMP/user.pw" "$@" >"$TMP/run.out" 2>"$TMP/run.err" ||
        fail "$name: exit status $?"
    [ "$(grep -c '^RESULT ' "$TMP/run.out")" -eq 1 ] || fail "$name: not exactly one RESULT line"
    grep -q "^RESULT proto=chat scenario=$name .* errors=0\$" "$TMP/run.out" ||
        fail "$name: unexpected RESULT line: $(cat "$TMP/run.out")"
    cat "$TMP/run.out"
}

run fanout --scenario fanout -n 12 -s 3 -w 4 -m 30 -b 100
run fanout --scenario fanout -n 8 -s 2 -w 2 -m 20 -b 300 --threads 2
run rate --scenario rate -n 10 -s 2 --rate 40 --duration 1 -b 100
run login --scenario login -k 4 --duration 1
run idle --scenario idle -c 24 --hold 0.5
run idle --scenario idle -c 6 --hold 0.2 --join yes

# A run that must fail: the accounts do not exist.
if "$CHATBENCH" $COMMON --user-prefix nosuch --password-file "$TMP/user.pw" \
    --scenario fanout -n 2 -s 1 -m 1 >"$TMP/run.out" 2>"$TMP/run.err"; then
    fail "a run with unknown accounts exited 0"
fi
grep -q 'login as nosuch0 failed\|login as nosuch1 failed' "$TMP/run.err" ||
    fail "the failed login was not explained: $(cat "$TMP/run.err")"

kill "$CHATD_PID"
wait "$CHATD_PID" || fail "chatd exited with status $? after SIGTERM"
CHATD_PID=''
echo "chatbench smoke: ok"
