#!/bin/sh
# chatbench's IRC mode against a real ngircd (ctest; skipped, exit 77, when
# ngircd is not installed): ngircd with bench/ngircd.conf on a loopback
# port of its own, then seconds-long fanout, rate, login and idle runs.
# Each must exit 0 with one RESULT line and errors=0. No timing asserted.
#
# Usage: smoke_irc.sh CHATBENCH NGIRCD_CONF_TEMPLATE
set -eu
CHATBENCH=$1
TEMPLATE=$2
NGIRCD=$(command -v ngircd || true)
[ -z "$NGIRCD" ] && [ -x /usr/sbin/ngircd ] && NGIRCD=/usr/sbin/ngircd
if [ -z "$NGIRCD" ]; then
    echo "chatbench IRC smoke: ngircd is not installed: skipped"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/chatbench-irc.XXXXXX")
IRC_PID=''
cleanup() {
    if [ -n "$IRC_PID" ]; then
        kill "$IRC_PID" 2>/dev/null || true
        wait "$IRC_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "chatbench IRC smoke: $*" >&2
    for f in "$TMP"/run.err "$TMP"/ngircd.log; do
        [ -f "$f" ] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

# ngircd cannot pick a free port itself: try a few pseudo-random ones.
mkdir -p "$TMP/ngircd.conf.d"
tries=0
while :; do
    tries=$((tries + 1))
    [ "$tries" -le 5 ] || fail "ngircd did not start on any of 5 ports"
    PORT=$((20000 + ($$ * 7 + tries * 7919) % 30000))
    sed -e "s|@PORT@|$PORT|g" -e "s|@DIR@|$TMP|g" -e "s|@USER@|$(id -un)|g" "$TEMPLATE" \
        >"$TMP/ngircd.conf"
    "$NGIRCD" -n -f "$TMP/ngircd.conf" </dev/null >"$TMP/ngircd.log" 2>&1 &
    IRC_PID=$!
    # Listening once a registration goes through.
    i=0
    while [ "$i" -lt 50 ]; do
        kill -0 "$IRC_PID" 2>/dev/null || break
        if "$CHATBENCH" --proto irc --port "$PORT" --scenario idle -c 1 --hold 0.1 \
            --timeout 5 >/dev/null 2>&1; then
            break 2
        fi
        i=$((i + 1))
        sleep 0.2
    done
    kill "$IRC_PID" 2>/dev/null || true
    wait "$IRC_PID" 2>/dev/null || true
    IRC_PID=''
done

run() {
    name=$1
    shift
    "$CHATBENCH" --proto irc --host 127.0.0.1 --port "$PORT" --server-pid "$IRC_PID" \
        --user-prefix smk --timeout 60 "$@" >"$TMP/run.out" 2>"$TMP/run.err" ||
        fail "$name: exit status $?"
    [ "$(grep -c '^RESULT ' "$TMP/run.out")" -eq 1 ] || fail "$name: not exactly one RESULT line"
    grep -q "^RESULT proto=irc scenario=$name .* errors=0\$" "$TMP/run.out" ||
        fail "$name: unexpected RESULT line: $(cat "$TMP/run.out")"
    cat "$TMP/run.out"
}

run fanout --scenario fanout -n 12 -s 3 -w 4 -m 30 -b 100
run fanout --scenario fanout -n 8 -s 2 -w 2 -m 20 -b 400 --threads 2
run rate --scenario rate -n 10 -s 2 --rate 40 --duration 1 -b 100
run login --scenario login -k 4 --duration 1
run idle --scenario idle -c 24 --hold 0.5
run idle --scenario idle -c 6 --hold 0.2 --join no

kill "$IRC_PID"
wait "$IRC_PID" 2>/dev/null || true
IRC_PID=''
echo "chatbench IRC smoke: ok"
