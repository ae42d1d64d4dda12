#!/usr/bin/env bash
# compare.sh: chatd against ngIRCd, side by side on this machine (issue 6,
# docs/PERFORMANCE.md).
#
#   bench/compare.sh            full run: 5 repetitions of every scenario,
#                               then the N sweep and its plot (~15 minutes)
#   bench/compare.sh --quick    one short repetition of each scenario (<2 min)
#   bench/compare.sh --sweep    only the N sweep and the plot
#
# Options: --reps N   repetitions (default 5; --quick: 1)
#          --no-sweep skip the sweep in a full run
#          --out DIR  where results go (default build/bench-b/compare-DATE)
#          --build DIR build directory (default build/bench-b)
#          --plot FILE also copy the sweep plot to FILE
#
# What it does:
#   - installs ngircd and gnuplot from Debian if missing (and the build
#     dependencies through scripts/deps.sh); needs root only for that;
#   - builds chatd, chatbench and cryptofloor;
#   - starts chatd (fresh state directory, a config with limits that do not
#     get in the way of a benchmark) and ngircd (bench/ngircd.conf: flood
#     control off) on loopback, each pinned to CPU 0 with taskset; chatbench
#     runs pinned to CPU 1;
#   - restarts both before the idle scenario (memory per connection is
#     measured on fresh servers);
#   - waits until both servers are idle before each run, and runs the chatd
#     and ngircd runs of a scenario back to back, alternating which goes
#     first, so both see the same state of the (shared, noisy) machine;
#   - measures the crypto floor (cryptofloor, on the servers' core) at the
#     start and the end;
#   - prints, per scenario, each server's median (min-max) and the paired
#     ratio chatd/ngircd taken within each repetition, median (min-max), the
#     figures as fractions of the crypto floor, and each target of issue 6
#     as met or missed.
# Raw result lines are kept in OUT/results.txt, the summary in
# OUT/summary.txt, server logs in OUT/.
#
# Environment: CPU_SERVER (0), CPU_LOAD (1), CHAT_PORT (17447),
# IRC_PORT (17667), CHATBENCH (a chatbench binary to use instead).
set -eu -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/bench-b
MODE=full
REPS=
SWEEP=yes
OUT=
PLOT_COPY=
CPU_SERVER=${CPU_SERVER:-0}
CPU_LOAD=${CPU_LOAD:-1}
CHAT_PORT=${CHAT_PORT:-17447}
IRC_PORT=${IRC_PORT:-17667}

die() {
    echo "compare.sh: $*" >&2
    exit 1
}
note() { echo "compare.sh: $*" >&2; }

usage() {
    sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case $1 in
    --quick) MODE=quick ;;
    --sweep) MODE=sweep ;;
    --no-sweep) SWEEP=no ;;
    --reps | --out | --build | --plot)
        [ $# -ge 2 ] || die "$1 needs a value"
        case $1 in
        --reps) REPS=$2 ;;
        --out) OUT=$2 ;;
        --build) BUILD=$2 ;;
        --plot) PLOT_COPY=$2 ;;
        esac
        shift
        ;;
    -h | --help) usage 0 ;;
    *)
        echo "compare.sh: unknown option $1" >&2
        usage 2
        ;;
    esac
    shift
done
if [ -z "$REPS" ]; then
    if [ "$MODE" = full ]; then REPS=5; else REPS=1; fi
fi
case $REPS in '' | *[!0-9]*) die "--reps wants a positive number" ;; esac
[ "$REPS" -ge 1 ] || die "--reps wants a positive number"
[ "$(nproc)" -ge 2 ] || note "warning: fewer than 2 CPUs; the server and chatbench share one"

# ---------------------------------------------------------------------
# Packages and build
# ---------------------------------------------------------------------

apt_install() {
    # $@: packages. Debian's ngircd package starts its system service when
    # installed under systemd; we stop it again (our ngircd has its own
    # config and port).
    [ "$(id -u)" -eq 0 ] || die "missing $*: run as root, or: apt-get update && apt-get install -y $*"
    note "installing $* from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

need_pkgs=""
command -v ngircd >/dev/null 2>&1 || [ -x /usr/sbin/ngircd ] || need_pkgs="$need_pkgs ngircd"
command -v gnuplot >/dev/null 2>&1 || need_pkgs="$need_pkgs gnuplot-nox"
command -v taskset >/dev/null 2>&1 || need_pkgs="$need_pkgs util-linux"
if [ -n "$need_pkgs" ]; then
    # shellcheck disable=SC2086
    apt_install $need_pkgs
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet ngircd 2>/dev/null; then
        systemctl stop ngircd || true
        systemctl disable ngircd >/dev/null 2>&1 || true
    fi
fi
NGIRCD=$(command -v ngircd 2>/dev/null || echo /usr/sbin/ngircd)
[ -x "$NGIRCD" ] || die "ngircd not found after installing it"

"$ROOT/scripts/deps.sh" || die "build dependencies missing (scripts/deps.sh)"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    note "configuring $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
targets="chatd cryptofloor"
[ -n "${CHATBENCH:-}" ] || targets="$targets chatbench"
note "building $targets"
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$(nproc)" --target $targets >/dev/null ||
    die "build failed: cmake --build $BUILD --target $targets"
CHATD=$BUILD/chatd/chatd
CHATBENCH=${CHATBENCH:-$BUILD/bench/chatbench}
CRYPTOFLOOR=$BUILD/bench/cryptofloor
for b in "$CHATD" "$CHATBENCH" "$CRYPTOFLOOR"; do
    [ -x "$b" ] || die "$b was not built"
done

# ---------------------------------------------------------------------
# Working directory, servers, cleanup
# ---------------------------------------------------------------------

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$OUT" ] || OUT=$BUILD/compare-$STAMP
mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"
# State on tmpfs when there is one: account creation is many small SQLite
# transactions, and the disk is not what is measured.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    TMP=$(mktemp -d /dev/shm/chat-compare.XXXXXX)
else
    TMP=$(mktemp -d)
fi
CHATD_PID=
IRC_PID=

stop_pid() {
    # Stop one server we started: SIGTERM, a few seconds, then SIGKILL.
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_pid "$CHATD_PID"
    stop_pid "$IRC_PID"
    [ -f "$TMP/chatd.log" ] && cp "$TMP/chatd.log" "$OUT/" 2>/dev/null
    [ -f "$TMP/ngircd.log" ] && cp "$TMP/ngircd.log" "$OUT/" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# As many descriptors as allowed: the idle scenario holds 10,000 sockets on
# each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

port_free() {
    ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}
wait_listen() {
    # $1 port, $2 pid, $3 name: until something listens on the port.
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || die "$3 exited at start (log: $OUT/$3.log)"
        if ss -Htln "sport = :$1" 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.1
    done
    die "$3 is not listening on 127.0.0.1:$1 after 10 s"
}

port_free "$CHAT_PORT" || die "port $CHAT_PORT is in use (set CHAT_PORT)"
port_free "$IRC_PORT" || die "port $IRC_PORT is in use (set IRC_PORT)"

head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$TMP/admin.pw"
echo "bench-user-password" >"$TMP/user.pw"
chmod 600 "$TMP/admin.pw" "$TMP/user.pw"

# Limits out of the benchmark's way: room for 10,000 idle clients plus the
# others, accounts as cheap as libchat allows (Argon2id at its minimums, on
# the client side anyway), failures never rate-limited, no idle or login
# timeout during a run, a per-connection output bound far above what W=8
# ever queues, and warnings only in the log (one line per login would be
# measured too). No default room: chatd's default #lobby would put every
# client of every scenario in a second room, and each login would tell all
# of its members (O(N^2) presence traffic while 10,000 idle clients log in);
# the fan-out scenarios use chatbench's own room, and the idle clients are
# logged in and in no room, like ngircd's registered ones.
cat >"$TMP/chatd.conf" <<EOF
listen = 127.0.0.1
port = $CHAT_PORT
state_dir = $TMP/chatd-state
log_level = warn
max_connections = 12000
max_connections_per_address = 12000
login_timeout = 120s
idle_timeout = 3600s
output_queue_max = 64M
min_opslimit = 1
min_memlimit_kib = 8
default_rooms =
login_failures_per_user = 1000000
login_failures_per_address = 1000000
EOF

mkdir -p "$TMP/chatd-state" "$TMP/ngircd.conf.d"
chmod 700 "$TMP/chatd-state"
sed -e "s|@PORT@|$IRC_PORT|g" -e "s|@DIR@|$TMP|g" -e "s|@USER@|$(id -un)|g" \
    "$ROOT/bench/ngircd.conf" >"$TMP/ngircd.conf"

start_servers() {
    # Both servers, pinned to the server core. chatd keeps its state
    # directory across restarts (the accounts stay); the admin password
    # file is read only on the first start, when there is no admin yet.
    taskset -c "$CPU_SERVER" "$CHATD" -c "$TMP/chatd.conf" --admin bench \
        --admin-password-file "$TMP/admin.pw" </dev/null 2>>"$TMP/chatd.log" &
    CHATD_PID=$!
    taskset -c "$CPU_SERVER" "$NGIRCD" -n -f "$TMP/ngircd.conf" </dev/null >>"$TMP/ngircd.log" 2>&1 &
    IRC_PID=$!
    wait_listen "$CHAT_PORT" "$CHATD_PID" chatd
    wait_listen "$IRC_PORT" "$IRC_PID" ngircd
    note "chatd pid $CHATD_PID on 127.0.0.1:$CHAT_PORT, ngircd pid $IRC_PID on 127.0.0.1:$IRC_PORT (CPU $CPU_SERVER); chatbench on CPU $CPU_LOAD"
}

restart_servers() {
    # Memory per idle connection is measured on fresh servers: a server
    # that has just run a fan-out holds freed heap that new connections
    # would reuse, and its RSS would barely grow.
    stop_pid "$CHATD_PID"
    stop_pid "$IRC_PID"
    CHATD_PID=''
    IRC_PID=''
    start_servers
}

start_servers

# ---------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------

ticks() {
    # utime + stime of a process, in clock ticks: fields 14 and 15 of
    # /proc/PID/stat, counted after the parenthesised command name (which
    # may hold spaces). 0 when the process is gone.
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

wait_idle() {
    # Until both servers used at most one tick in each of two consecutive
    # half seconds (a teardown of 10,000 clients can take a while), at most
    # 60 s.
    local a b quiet=0
    for _ in $(seq 1 120); do
        kill -0 "$CHATD_PID" 2>/dev/null || die "chatd died (log: $OUT/chatd.log)"
        kill -0 "$IRC_PID" 2>/dev/null || die "ngircd died (log: $OUT/ngircd.log)"
        a=$(($(ticks "$CHATD_PID") + $(ticks "$IRC_PID")))
        sleep 0.5
        b=$(($(ticks "$CHATD_PID") + $(ticks "$IRC_PID")))
        if [ $((b - a)) -le 1 ]; then
            quiet=$((quiet + 1))
            [ "$quiet" -ge 2 ] && return 0
        else
            quiet=0
        fi
    done
    note "warning: servers not idle after 60 s; measuring anyway"
}

# run_one REP SERVER ID TIMEOUT_S CHATBENCH-SCENARIO-ARGS...
run_one() {
    local rep=$1 server=$2 id=$3 limit=$4 rc=0 line port pid proto
    shift 4
    if [ "$server" = chatd ]; then
        port=$CHAT_PORT pid=$CHATD_PID proto=chat
        set -- "$@" --user-prefix u --password-file "$TMP/user.pw"
    else
        port=$IRC_PORT pid=$IRC_PID proto=irc
        # ngircd listens with a backlog of 10 (hard-coded): more connects
        # at once overflow it and the kernel resets some of them.
        set -- "$@" --connect-window 8
    fi
    wait_idle
    timeout "$limit" taskset -c "$CPU_LOAD" "$CHATBENCH" --proto "$proto" --host 127.0.0.1 \
        --port "$port" --server-pid "$pid" "$@" >"$TMP/run.out" 2>"$TMP/run.err" || rc=$?
    line=$(grep '^RESULT ' "$TMP/run.out" | tail -n 1 || true)
    if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
        note "$id $server rep $rep FAILED (rc=$rc): $(tail -n 3 "$TMP/run.err" | tr '\n' ' ')"
        echo "rep=$rep server=$server id=$id FAILED rc=$rc" >>"$RESULTS"
        cat "$TMP/run.err" >>"$OUT/failures.log"
        return 0
    fi
    echo "rep=$rep server=$server id=$id $line" >>"$RESULTS"
    printf '  %-8s %-6s %s\n' "$id" "$server" "$(short "$line")" >&2
}

short() {
    # The interesting fields of a RESULT line, for progress output.
    echo "$1" | tr ' ' '\n' | grep -E '^(deliveries_per_s|p50_us|p99_us|server_cpu_s|deliveries_per_cpu_s|logins_per_s|conns|rss_per_conn_b|errors)=' | tr '\n' ' '
}

# pair REP ID TIMEOUT ARGS...: the chatd and the ngircd run of one scenario,
# chatd first in odd repetitions, ngircd first in even ones.
pair() {
    local rep=$1
    if [ $((rep % 2)) -eq 1 ]; then
        run_one "$rep" chatd "${@:2:2}" "${@:4}"
        run_one "$rep" ngircd "${@:2:2}" "${@:4}"
    else
        run_one "$rep" ngircd "${@:2:2}" "${@:4}"
        run_one "$rep" chatd "${@:2:2}" "${@:4}"
    fi
}

crypto_floor() {
    # On the servers' core, while they are idle: the floor of the server
    # that is measured, not of the load generator's core.
    wait_idle
    local q=
    [ "$MODE" = full ] || q=-q
    taskset -c "$CPU_SERVER" "$CRYPTOFLOOR" -b 100 $q 2>/dev/null | grep '^CRYPTO ' >>"$RESULTS" ||
        die "cryptofloor failed"
    note "$(tail -n 1 "$RESULTS")"
}

# ---------------------------------------------------------------------
# Scenarios (issue 6). S = 10 senders, 100-byte messages, W = 8 throughout.
# ---------------------------------------------------------------------

if [ "$MODE" = full ]; then
    M1000=200 M100=2000 RDUR=5 LDUR=5 IDLE_C=10000 ACCOUNTS=10000
else
    M1000=20 M100=200 RDUR=2 LDUR=2 IDLE_C=2000 ACCOUNTS=2000
fi
LOGIN_K=32

note "creating $ACCOUNTS chatd accounts"
wait_idle
timeout 600 taskset -c "$CPU_LOAD" "$CHATBENCH" --proto chat --host 127.0.0.1 --port "$CHAT_PORT" \
    --setup --admin-user bench --admin-password-file "$TMP/admin.pw" --count "$ACCOUNTS" \
    --user-prefix u --password-file "$TMP/user.pw" >"$TMP/setup.out" 2>"$TMP/setup.err" ||
    die "account setup failed: $(tail -n 5 "$TMP/setup.err")"

{
    echo "# compare.sh $MODE run, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "# chatd $("$CHATD" --version 2>/dev/null | head -n 1); $("$NGIRCD" --version 2>/dev/null | head -n 1 | cut -d- -f1); libsodium $(pkg-config --modversion libsodium 2>/dev/null)"
} >>"$RESULTS"

crypto_floor

if [ "$MODE" != sweep ]; then
    for rep in $(seq 1 "$REPS"); do
        note "repetition $rep of $REPS"
        pair "$rep" T1000w8 300 --scenario fanout -n 1000 -s 10 -w 8 -m "$M1000" -b 100
        pair "$rep" T100w8 300 --scenario fanout -n 100 -s 10 -w 8 -m "$M100" -b 100
        pair "$rep" R100 120 --scenario rate -n 100 -s 10 --rate 100 --duration "$RDUR" -b 100
        pair "$rep" R1000 180 --scenario rate -n 1000 -s 10 --rate 10 --duration "$RDUR" -b 100
        pair "$rep" LOGIN 120 --scenario login -k "$LOGIN_K" --duration "$LDUR"
        restart_servers
        pair "$rep" IDLE 300 --scenario idle -c "$IDLE_C" --join no
        # And fresh servers for what follows: ngircd's loop walks its whole
        # connection pool, which keeps the size of its largest load, so
        # after 10,000 idle clients every later run of it is slower
        # (T1000w8 1.76 M -> 1.21 M deliveries/s, 1.0 -> 1.6 s of CPU).
        restart_servers
    done
fi

SWEEP_NS=""
if [ "$MODE" = sweep ] || { [ "$MODE" = full ] && [ "$SWEEP" = yes ]; }; then
    SWEEP_NS="10 100 300 1000"
    if [ "$MODE" = sweep ]; then sreps=$REPS; else sreps=3; fi
    # About the same number of deliveries at every N.
    if [ "$MODE" = full ]; then target=1000000; else target=200000; fi
    for rep in $(seq 1 "$sreps"); do
        note "sweep repetition $rep of $sreps"
        for n in $SWEEP_NS; do
            m=$(((target + 10 * (n - 1) - 1) / (10 * (n - 1))))
            pair "$rep" "N$n" 300 --scenario fanout -n "$n" -s 10 -w 8 -m "$m" -b 100
        done
    done
fi

crypto_floor

# ---------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------

awk -v reps="$REPS" -v sweepns="$SWEEP_NS" -v datfile="$OUT/sweep.dat" '
function num(x) { return x + 0 }
# Median and range of v[1..n] (sorted in place: insertion sort, n is small).
function sortv(v, n,   i, j, t) {
    for (i = 2; i <= n; i++) {
        t = v[i]
        for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]
        v[j + 1] = t
    }
}
function med(v, n) {
    sortv(v, n)
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function fmt(x) {
    if (x == "") return "-"
    if (x >= 1e6) return sprintf("%.2f M", x / 1e6)
    if (x >= 1e4) return sprintf("%.1f k", x / 1e3)
    if (x >= 100) return sprintf("%.0f", x)
    return sprintf("%.3g", x)
}
# "median (min-max)" of metric m of server s in scenario id.
function stat(id, s, m,   v, n, r) {
    n = 0
    for (r = 1; r <= maxrep; r++)
        if ((id, s, r, m) in val) v[++n] = val[id, s, r, m]
    if (n == 0) { statmed = ""; return "-" }
    statmed = med(v, n)
    return sprintf("%s (%s-%s)", fmt(statmed), fmt(v[1]), fmt(v[n]))
}
# Paired ratio chatd/ngircd of metric m, per repetition: median (min-max).
function ratio(id, m,   v, n, r, a, b) {
    n = 0
    for (r = 1; r <= maxrep; r++) {
        if (!((id, "chatd", r, m) in val) || !((id, "ngircd", r, m) in val)) continue
        a = val[id, "chatd", r, m]; b = val[id, "ngircd", r, m]
        if (b > 0) v[++n] = a / b
    }
    ratio_n = n
    if (n == 0) { ratiomed = ""; return "-" }
    ratiomed = med(v, n)
    return sprintf("%.2f (%.2f-%.2f) n=%d", ratiomed, v[1], v[n], n)
}
function line(id, label, m) {
    printf "  %-22s chatd %-26s ngircd %-26s chatd/ngircd %s\n", label, stat(id, "chatd", m),
        stat(id, "ngircd", m), ratio(id, m)
}
# x / d for the data file, or NaN (a gap in the plot) when there is none.
function nan(x, d) { return x == "" ? "NaN" : x / d }
# chatd against the floor of sealing each message alone: one AEAD of 100 B
# per delivery (aead, messages/s).
function aead_fraction(id,   cd, cc) {
    stat(id, "chatd", "deliveries_per_s"); cd = statmed
    stat(id, "chatd", "deliveries_per_cpu_s"); cc = statmed
    if (aead > 0 && cd != "" && cc != "")
        printf "  chatd as a fraction of the per-message AEAD floor (%s/s): deliveries/s %.2f, deliveries/CPU-s %.2f (above 1: coalescing beats sealing each message)\n",
            fmt(aead), cd / aead, cc / aead
}
function verdict(ok) { return ok ? "MET" : "MISSED" }
$1 ~ /^rep=/ {
    split($1, a, "="); rep = num(a[2])
    split($2, a, "="); srv = a[2]
    split($3, a, "="); id = a[2]
    if (rep > maxrep) maxrep = rep
    if ($4 == "FAILED") { failed[id, srv]++; nfail++; next }
    for (i = 5; i <= NF; i++) {
        k = $i; sub(/=.*/, "", k); x = $i; sub(/^[^=]*=/, "", x)
        val[id, srv, rep, k] = num(x)
    }
    next
}
$1 == "CRYPTO" {
    nc++
    for (i = 2; i <= NF; i++) {
        k = $i; sub(/=.*/, "", k); x = $i; sub(/^[^=]*=/, "", x)
        cr[nc, k] = num(x)
    }
    next
}
/^#/ { print; next }
END {
    # The crypto floor: mean of the runs (one at the start, one at the end).
    for (i = 1; i <= nc; i++) { aead += cr[i, "aead_per_s"] / nc; aeadns += cr[i, "aead_ns"] / nc
                                login += cr[i, "logins_per_s"] / nc; loginus += cr[i, "login_us"] / nc
                                a4k += cr[i, "aead4k_ns"] / nc }
    printf "\ncrypto floor (cryptofloor on the servers core, %d runs): AEAD of 100 B %.0f ns = %s sealed messages/s; AEAD of 4 KiB %.0f ns; one login (Noise XX responder + Ed25519 verify) %.0f us = %s logins/s\n",
        nc, aeadns, fmt(aead), a4k, loginus, fmt(login)
    printf "repetitions: %d%s\n\n", maxrep, nfail ? sprintf(", %d FAILED runs (see failures.log)", nfail) : ""

    split("T1000w8 T100w8", fan, " ")
    for (f = 1; f <= 2; f++) {
        id = fan[f]
        printf "%s: fan-out N=%s, S=10, W=8, 100 B\n", id, id == "T1000w8" ? 1000 : 100
        line(id, "deliveries/s", "deliveries_per_s"); r_dps[id] = ratiomed
        line(id, "deliveries/server CPU-s", "deliveries_per_cpu_s")
        line(id, "p50 us", "p50_us")
        line(id, "p99 us", "p99_us")
        line(id, "server CPU s", "server_cpu_s")
        aead_fraction(id)
        print ""
    }
    split("R100 R1000", rat, " ")
    for (f = 1; f <= 2; f++) {
        id = rat[f]
        printf "%s: fixed rate, %s\n", id, id == "R100" ? "100 clients, 10 senders at 100 msg/s" : "1000 clients, 10 senders at 10 msg/s"
        line(id, "p50 us", "p50_us")
        line(id, "p99 us", "p99_us"); r_p99[id] = ratiomed
        line(id, "deliveries/s", "deliveries_per_s")
        line(id, "deliveries/server CPU-s", "deliveries_per_cpu_s")
        aead_fraction(id)
        print ""
    }
    id = "LOGIN"
    print "LOGIN: complete logins (chatd: Noise XX + proof; ngircd: NICK/USER registration, no crypto)"
    line(id, "logins/s", "logins_per_s")
    line(id, "logins/server CPU-s", "logins_per_cpu_s")
    line(id, "server CPU s", "server_cpu_s")
    stat(id, "chatd", "logins_per_s"); lg = statmed
    stat(id, "chatd", "logins_per_cpu_s"); lgc = statmed
    if (login > 0 && lg != "")
        printf "  chatd as a fraction of the login crypto floor (%s/s): logins/s %.2f, logins/server CPU-s %s\n", fmt(login), lg / login, lgc != "" ? sprintf("%.2f", lgc / login) : "-"
    print ""
    id = "IDLE"
    print "IDLE: server user-space RSS per idle connection, logged in (chatd) or registered (ngircd), in no room"
    line(id, "bytes/connection", "rss_per_conn_b")
    line(id, "connections", "conns")
    stat(id, "chatd", "rss_per_conn_b"); idle = statmed
    print ""

    if (sweepns != "") {
        n = split(sweepns, ns, " ")
        print "SWEEP: fan-out, S=10, W=8, 100 B, against N (medians)"
        printf "# N chatd_deliveries_per_s ngircd_deliveries_per_s chatd_p99_ms ngircd_p99_ms\n" > datfile
        for (i = 1; i <= n; i++) {
            id = "N" ns[i]
            printf "N=%s\n", ns[i]
            line(id, "deliveries/s", "deliveries_per_s")
            line(id, "p99 us", "p99_us")
            stat(id, "chatd", "deliveries_per_s"); a1 = statmed
            stat(id, "ngircd", "deliveries_per_s"); a2 = statmed
            stat(id, "chatd", "p99_us"); a3 = statmed
            stat(id, "ngircd", "p99_us"); a4 = statmed
            printf("%s %s %s %s %s\n", ns[i], nan(a1, 1), nan(a2, 1), nan(a3, 1000),
                   nan(a4, 1000)) > datfile
        }
        close(datfile)
        print ""
    }

    print "TARGETS (issue 6)"
    if ("T1000w8" in r_dps && r_dps["T1000w8"] != "")
        printf "  T1000w8 deliveries/s >= 1.5x ngircd:   %.2f  %s\n", r_dps["T1000w8"], verdict(r_dps["T1000w8"] >= 1.5)
    if ("T100w8" in r_dps && r_dps["T100w8"] != "")
        printf "  T100w8 deliveries/s >= 3x ngircd:      %.2f  %s\n", r_dps["T100w8"], verdict(r_dps["T100w8"] >= 3)
    if ("R100" in r_p99 && r_p99["R100"] != "")
        printf "  R100 p99 <= 0.5x ngircd:               %.2f  %s\n", r_p99["R100"], verdict(r_p99["R100"] <= 0.5)
    if ("R1000" in r_p99 && r_p99["R1000"] != "")
        printf "  R1000 p99 <= 1x ngircd:                %.2f  %s\n", r_p99["R1000"], verdict(r_p99["R1000"] <= 1)
    # End to end, a login costs the one-core load generator about what it
    # costs the server (the initiator does as many X25519 operations plus
    # an Ed25519 signature), so logins/s is bounded by both; logins per
    # server CPU-second is the server efficiency on its own.
    if (lg != "") {
        printf "  logins >= 4000/s (end to end):         %.0f  %s\n", lg, verdict(lg >= 4000)
        if (login > 0) {
            printf "  logins >= 0.8x crypto floor (end to end): %.2f  %s\n", lg / login, verdict(lg / login >= 0.8)
            if (lgc != "")
                printf "  logins per server CPU-s >= 0.8x floor: %.2f  %s\n", lgc / login, verdict(lgc / login >= 0.8)
        }
    }
    if (idle != "")
        printf "  idle <= 512 B per connection:          %.0f  %s%s\n", idle, verdict(idle <= 512),
            val["IDLE", "chatd", 1, "conns"] < 10000 ? " (measured below the 10,000 connections of the target)" : ""
}
' "$RESULTS" | tee "$OUT/summary.txt"

if [ -s "$OUT/sweep.dat" ] && command -v gnuplot >/dev/null 2>&1; then
    if gnuplot -e "datafile='$OUT/sweep.dat'; outfile='$OUT/perf-sweep.png'" "$ROOT/bench/plot.gp" 2>"$OUT/gnuplot.err"; then
        note "plot: $OUT/perf-sweep.png"
        [ -z "$PLOT_COPY" ] || cp "$OUT/perf-sweep.png" "$PLOT_COPY"
    else
        note "gnuplot failed: $(head -n 3 "$OUT/gnuplot.err")"
    fi
fi
note "results: $RESULTS; summary: $OUT/summary.txt"
