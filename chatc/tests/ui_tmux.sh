#!/bin/sh
# chatc's ncurses interface, driven under tmux against a real chatd.
#
# Usage: ui_tmux.sh CHATC CHATD
#
# Starts chatd on an ephemeral loopback port, a second user (bob) as a
# line-mode chatc fed through a FIFO, and chatc's screen in a detached tmux
# session on a private server socket (-L), then types with send-keys and
# reads the screen with capture-pane. Every wait is bounded; at the end only
# the processes this script started are stopped (tmux by its own socket,
# the others by pid). Exits 77 (skipped) when tmux is missing.
#
# Checked: the first-contact question (refusing; accepting with "yes" or by
# pasting the fingerprint), the password prompt and its retry, the message pane, nick list,
# status bar and title; typing and editing keys; wide characters; history
# (Up); tab completion; scrollback (PgUp/PgDn); resize; room switching
# (Alt-2, /window, Ctrl-N/Ctrl-P) and unread/highlight counts; the paste
# guard; /quit and the history file; reconnection with re-join after the
# server restarts; a changed key at reconnect (exit 76, warning).
set -eu

CHATC=$1
CHATD=$2
command -v tmux >/dev/null 2>&1 || { echo "tmux not installed: skipped"; exit 77; }

D=$(mktemp -d /tmp/chatc-ui.XXXXXX)
SOCK="chatc-ui-$$"
CHATD_PID=""
BOB_PID=""

cleanup() {
    tmux -L "$SOCK" kill-server >/dev/null 2>&1 || true
    [ -n "$BOB_PID" ] && kill "$BOB_PID" 2>/dev/null || true
    [ -n "$CHATD_PID" ] && kill "$CHATD_PID" 2>/dev/null || true
    [ -n "$BOB_PID" ] && wait "$BOB_PID" 2>/dev/null || true
    [ -n "$CHATD_PID" ] && wait "$CHATD_PID" 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT INT TERM

SESSION=ui
cap() { tmux -L "$SOCK" capture-pane -p -t "$SESSION"; }
fail() {
    echo "FAIL: $*" >&2
    echo "---- screen:" >&2
    cap >&2 || true
    echo "---- bob:" >&2
    cat "$D/bob.out" >&2 2>/dev/null || true
    echo "---- chatd:" >&2
    tail -20 "$D/chatd.log" >&2 || true
    exit 1
}
# wait_for TEXT [SECONDS]: until the screen shows TEXT.
wait_for() {
    n=$(( ${2:-10} * 10 ))
    while [ "$n" -gt 0 ]; do
        cap | grep -F -q -- "$1" && return 0
        sleep 0.1
        n=$((n - 1))
    done
    fail "the screen never showed: $1"
}
# wait_gone TEXT: until the screen no longer shows TEXT.
wait_gone() {
    n=100
    while [ "$n" -gt 0 ]; do
        cap | grep -F -q -- "$1" || return 0
        sleep 0.1
        n=$((n - 1))
    done
    fail "the screen still shows: $1"
}
# wait_file FILE TEXT: until FILE holds TEXT.
wait_file() {
    n=100
    while [ "$n" -gt 0 ]; do
        grep -F -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        n=$((n - 1))
    done
    fail "$1 never held: $2"
}
# keys KEY...: one send-keys (one write to the terminal), then a pause so
# the next keys do not arrive with these (several lines at once is a paste).
keys() {
    tmux -L "$SOCK" send-keys -t "$SESSION" "$@"
    sleep 0.2
}
bob() { printf '%s\n' "$1" >&3; }

start_chatd() { # STATE PORT
    rm -f "$D/port"
    "$CHATD" --config "$D/chatd.conf" --state-dir "$1" --listen 127.0.0.1 --port "$2" \
        --port-file "$D/port" --admin alice --admin-password-file "$D/alice.pw" \
        --set min_opslimit=1 --set min_memlimit_kib=8 >>"$D/chatd.log" 2>&1 &
    CHATD_PID=$!
    n=100
    while [ "$n" -gt 0 ] && ! grep -q '^[0-9]' "$D/port" 2>/dev/null; do
        sleep 0.1
        n=$((n - 1))
    done
    PORT=$(cat "$D/port") || fail "chatd did not start"
}
stop_chatd() {
    kill "$CHATD_PID"
    wait "$CHATD_PID" || true
    CHATD_PID=""
}

# The screen session: chatc as alice, with its exit status shown after it.
start_ui() { # NAME [HOME]
    SESSION=$1
    H=${2:-$D/alice}
    tmux -L "$SOCK" -f /dev/null -u new-session -d -s "$SESSION" -x 100 -y 30 \
        "env LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME='$H' XDG_DATA_HOME='$H/data' \
XDG_CONFIG_HOME='$H/config' XDG_STATE_HOME='$H/state' \
'$CHATC' alice@127.0.0.1:$PORT; echo EXIT=\$?; sleep 600"
    tmux -L "$SOCK" set-option -t "$SESSION" -g status off >/dev/null
}

printf 'motd = hello from the test server\n' >"$D/chatd.conf"
printf 'pw-alice\n' >"$D/alice.pw"
printf 'pw-bob\n' >"$D/bob.pw"
chmod 600 "$D/alice.pw" "$D/bob.pw"
start_chatd "$D/state" 0
"$CHATD" --config "$D/chatd.conf" --state-dir "$D/state" add-user bob \
    --password-file "$D/bob.pw" >>"$D/chatd.log" 2>&1 || fail "cannot add bob"
FP=$(sed -n 's/.*ready fingerprint=\(SHA256:[^ ]*\).*/\1/p' "$D/chatd.log" | tail -1)
[ -n "$FP" ] || fail "no fingerprint in the chatd log"
KH="$D/alice/data/chatc/known_hosts"

# ---- A: first contact, refused ----------------------------------------
start_ui a
wait_for "is not known yet"
wait_for "$FP"
keys "no" Enter
wait_for "was not accepted;"
wait_for "EXIT=76"
[ ! -e "$KH" ] || fail "a refused key was pinned"
echo "ok: first contact refused (exit 76, nothing pinned)"

# ---- A2: first contact accepted with "yes" (another home) ---------------
start_ui a2 "$D/alice2"
wait_for "Connect and pin this key"
keys "yes" Enter
wait_for "password:"
grep -F -q "[127.0.0.1]:$PORT x25519 " "$D/alice2/data/chatc/known_hosts" ||
    fail "'yes' did not pin the key"
keys "wrong password" Enter
wait_for "Permission denied, please try again."
keys "pw-alice" Enter
wait_for "[connected]"
keys "/quit" Enter
wait_for "EXIT=0"
echo "ok: first contact accepted with yes; a wrong password asked again"

# ---- B: first contact accepted by pasting the fingerprint ---------------
start_ui b
wait_for "Connect and pin this key"
keys "$FP" Enter
wait_for "password:"
keys "pw-alice" Enter
wait_for "[alice(admin)]"
wait_for "[2:#lobby]"
wait_for "[connected]"
wait_for " #lobby"
wait_for "you have joined #lobby"
cap | grep -q "│alice" || fail "no nick list"
grep -F -q "[127.0.0.1]:$PORT x25519 " "$KH" || fail "the key was not pinned"
[ "$(stat -c %a "$KH")" = 600 ] || fail "known_hosts is not 0600"
echo "ok: fingerprint accepted and pinned; status bar, title, nick list"

# bob joins, in line mode.
mkfifo "$D/bob.in"
env HOME="$D/bob" XDG_DATA_HOME="$D/bob/data" XDG_CONFIG_HOME="$D/bob/config" \
    XDG_STATE_HOME="$D/bob/state" "$CHATC" --password-file "$D/bob.pw" --trust=accept-new --room lobby \
    "bob@127.0.0.1:$PORT" <"$D/bob.in" >"$D/bob.out" 2>"$D/bob.err" &
BOB_PID=$!
exec 3>"$D/bob.in"
wait_file "$D/bob.out" "ready bob"
wait_for "│bob"
wait_for "bob has joined #lobby"
bob "hello alice"
wait_for "<bob> hello alice"
echo "ok: messages and nick list from another user"

# Typing and editing.
keys "hello from alice"
wait_for "[#lobby] hello from alice"
keys Enter
wait_file "$D/bob.out" "message #lobby <alice> seq=2 hello from alice"
wait_for "<alice> hello from alice"
keys "abcdef"
keys Home
keys Delete
keys End
keys BSpace
keys X
wait_for "[#lobby] bcdeX"
keys C-a
keys "<"
keys C-e
keys ">"
wait_for "[#lobby] <bcdeX>"
keys Left
keys Left
keys C-k
wait_for "[#lobby] <bcde"
keys " two three"
wait_for "[#lobby] <bcde two three"
keys C-w
wait_gone "three"
wait_for "[#lobby] <bcde two"
keys C-u
wait_gone "[#lobby] <bcde"
keys "日本語 wide ok"
keys Left
keys Left
keys Left
keys Left
keys Left
keys Left
keys Left
keys Left
keys BSpace
keys Enter
wait_file "$D/bob.out" "<alice> seq=3 日本 wide ok"
wait_for "<alice> 日本 wide ok"
echo "ok: typing, Home/End, Ctrl-A/E/K/W/U, Backspace/Delete, wide characters"

# History.
keys Up
wait_for "[#lobby] 日本 wide ok"
keys Up
wait_for "[#lobby] hello from alice"
keys Down
keys Down
wait_gone "[#lobby] hello from alice"
cap | tail -1 | grep -q "^\[#lobby\] *$" || fail "Down did not come back to the empty line"
echo "ok: history"

# Tab completion.
keys "bo"
keys Tab
keys "x"
wait_for "[#lobby] bob: x"
keys C-u
keys "/jo"
keys Tab
keys "#"
wait_for "[#lobby] /join #"
keys C-u
echo "ok: tab completion of nicks and commands"

# Scrollback.
i=10
while [ $i -lt 50 ]; do
    bob "scroll line $i"
    i=$((i + 1))
done
wait_for "scroll line 49"
cap | grep -q "scroll line 10" && fail "the screen is taller than expected"
keys PPage
wait_for "-- more --"
wait_for "scroll line 10"
wait_gone "scroll line 49"
keys NPage
wait_for "scroll line 49"
wait_gone "-- more --"
echo "ok: scrollback"

# Resize.
tmux -L "$SOCK" resize-window -t "$SESSION" -x 64 -y 16
wait_for "[alice(admin)]"
sleep 0.3
rows=$(cap | wc -l)
[ "$rows" -eq 16 ] || fail "capture has $rows rows after the resize"
cap | sed -n 15p | grep -F -q "[alice(admin)]" || fail "status bar not on the new last-but-one row"
cap | sed -n 16p | grep -F -q "[#lobby]" || fail "input line not on the new last row"
cap | grep -q "scroll line 49" || fail "messages gone after the resize"
tmux -L "$SOCK" resize-window -t "$SESSION" -x 100 -y 30
wait_for "scroll line 30"
echo "ok: resize"

# Windows: a new room, activity, Alt-2, /window, Ctrl-N/P, a private message.
keys "/join #dev" Enter
wait_for "[3:#dev]"
wait_for "you have joined #dev"
bob "in the lobby"
wait_for "[act: 2(1)]"
bob "/msg alice psst alice"
wait_for "4(1!)"
keys M-2
wait_for "[2:#lobby]"
wait_for "<bob> in the lobby"
keys "/window 4" Enter
wait_for "[4:bob]"
wait_for "<bob> psst alice"
wait_for "private conversation with bob"
keys C-n
wait_for "[1:status]"
keys C-p
wait_for "[4:bob]"
keys "secret reply" Enter
wait_file "$D/bob.out" "message bob <alice> seq=0 secret reply"
keys M-3
wait_for "[3:#dev]"
echo "ok: window switching, unread counts, private messages"

# The paste guard: two lines in one write.
keys M-2
wait_for "[2:#lobby]"
tmux -L "$SOCK" send-keys -t "$SESSION" "pasted one" Enter "pasted two" Enter
wait_for "Send 2 lines to #lobby? (y/n)"
keys y
wait_file "$D/bob.out" " pasted one"
wait_file "$D/bob.out" " pasted two"
tmux -L "$SOCK" send-keys -t "$SESSION" "not sent one" Enter "not sent two" Enter
wait_for "Send 2 lines to #lobby? (y/n)"
keys n
wait_for "paste not sent"
echo "ok: paste guard"

# /help hides nothing from an admin; /quit.
keys "/help" Enter
wait_for "/shutdown [reason]"
keys "/quit" Enter
wait_for "EXIT=0"
[ "$(stat -c %a "$D/alice/state/chatc/history")" = 600 ] || fail "history file mode"
grep -q "^hello from alice$" "$D/alice/state/chatc/history" || fail "history not saved"
echo "ok: /quit (exit 0), history saved"

# ---- C: reconnection, then a changed key --------------------------------
start_ui c
wait_for "password:"
keys "pw-alice" Enter
wait_for "[connected]"
keys "/join #dev" Enter
wait_for "[3:#dev]"
wait_for "│alice"
stop_chatd
wait_for "reconnecting in"
start_chatd "$D/state" "$PORT"
wait_for "[connected]" 20
n=100
while [ "$n" -gt 0 ] && [ "$(cap | grep -c 'you have joined #dev')" -lt 2 ]; do
    sleep 0.1
    n=$((n - 1))
done
[ "$n" -gt 0 ] || fail "not re-joined to #dev after reconnecting"
wait_for "│alice"
echo "ok: reconnect with re-join"

stop_chatd
wait_for "reconnecting in"
start_chatd "$D/state-new-key" "$PORT"
wait_for "EXIT=76" 20
wait_for "WARNING: THE SERVER'S IDENTITY HAS CHANGED!"
wait_for "remove line 1 of"
echo "ok: changed key at reconnect refused (exit 76)"
echo "all ok"
