#!/bin/sh
# The main job: install what is missing, build, start chatd on its defaults
# (port 7447, state in ${XDG_STATE_HOME:-~/.local/state}/chatd) and connect
# chatc to it as the admin. When chatc exits, the chatd started here stops.
#
#   scripts/run.sh              server + client, interactive
#   scripts/run.sh --selfcheck  only the in-memory libchat session (no network)
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

if [ "${1:-}" = "--selfcheck" ]; then
    exec build/release/libchat/chat-selfcheck
fi
if [ ! -t 0 ]; then
    echo "run.sh: needs a terminal (it asks for the admin password); try scripts/run.sh --selfcheck" >&2
    exit 64
fi

chatd=build/release/chatd/chatd
chatc=build/release/chatc/chatc
state=${XDG_STATE_HOME:-$HOME/.local/state}/chatd
# Connect as the first admin account; on the first run, create one (its
# password is asked twice).
admin=$("$chatd" list-users | awk '$2 == "admin" { print $1; exit }')
if [ -z "$admin" ]; then
    admin=${CHAT_ADMIN:-admin}
    echo "Creating the admin account '$admin' for this server."
    "$chatd" add-user "$admin" --role admin
fi

mkdir -p "$state"
log=$state/chatd.log
portfile=$state/run.port
rm -f "$portfile"
"$chatd" --port-file "$portfile" 2>>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT INT TERM
i=0
while [ ! -s "$portfile" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "run.sh: chatd did not start; the end of $log says:" >&2
        tail -5 "$log" >&2
        exit 69
    fi
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "run.sh: chatd did not start listening in 10 s" >&2; exit 69; }
    sleep 0.1
done
port=$(cat "$portfile")
fp=$("$chatd" fingerprint)
cat <<EOF
chatd is running (pid $pid) on port $port, logging to $log.
Server fingerprint: $fp
Others connect with:  chatc NAME@$(hostname -f 2>/dev/null || hostname):$port
(create their accounts with /adduser NAME in chatc, or: $chatd add-user NAME)

EOF
# We just started this server ourselves, so pinning its key is safe.
"$chatc" --trust=accept-new "$admin@localhost:$port" || true
