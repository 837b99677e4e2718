#!/usr/bin/env bash
# Over-HTTP throughput of a guarded route against peer crates (BENCHMARKS.md, "Over HTTP
# against peer crates").
#
# Builds the servers of benches/http-peers (release; a cargo project of its own, outside the
# workspace), mints one RSA key and one RS256 access token for the run, starts every contender
# on 127.0.0.1 (a free port each), checks that each answers 401 without a token, 403 to a token
# with another scope and 200 with the right 'photos:read' token (so that nobody is measured
# refusing, or letting everything through), then runs wrk against each in turn, ROUNDS times,
# the order rotating from round to round so that a change in the machine's load hits all
# alike. Every contender gets the same token. Prints requests/s per round and contender, the
# median of each, and the ratios ours / unprotected and ours / each peer (of the medians, and
# ours / unprotected also per round, as the two ran close together). Beside requests/s it
# prints the server's CPU time per request (user + system of its process, from /proc, over the
# wrk run): on a machine shared with other work, requests/s also measures how much CPU the
# neighbours left, while CPU per request moves less with them.
#
# Contenders: unprotected (axum 0.8, no authorization), ours (#[requires_scope] behind
# Authenticator::layer(), CachedVerifier), ours-uncached (the README's first example: a
# signature check per request), jwt-authorizer, aliri, huskarl. A contender that does not
# build is reported and left out.
#
# PEERS_INSTRUCTIONS=N counts instead, with valgrind's callgrind, the instructions each server
# executes in user space for N requests (after 100 unmeasured ones) on one keep-alive
# connection (curl): the same on every run whatever the machine's load, but blind to the
# kernel's share of a request (the loopback TCP stack, the system calls), which wrk's figures
# include.
#
# Usage: scripts/http-peers.sh [ROUNDS] [SECONDS]     (default 3 rounds of 10 s)
# Environment: PEERS_CONTENDERS (a subset, space separated), PEERS_THREADS (wrk -t, 1),
# PEERS_CONNECTIONS (wrk -c, 32), PEERS_WARMUP (seconds of wrk before the rounds, 2),
# PEERS_NO_BUILD=1 (use the binaries already built), PEERS_INSTRUCTIONS (above). Needs wrk
# (Debian: apt-get install wrk), curl, and for PEERS_INSTRUCTIONS valgrind; huskarl needs
# rustc 1.92 or later. Only loopback is ever contacted.
set -euo pipefail

ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
THREADS=${PEERS_THREADS:-1}
CONNECTIONS=${PEERS_CONNECTIONS:-32}
WARMUP=${PEERS_WARMUP:-2}
read -ra CONTENDERS <<<"${PEERS_CONTENDERS:-unprotected ours ours-uncached jwt-authorizer aliri huskarl}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$ROOT/benches/http-peers
BIN=$DIR/target/release

for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool (Debian: apt-get install -y $tool)" >&2; exit 1; }
done

# The binary and the package of a contender.
binary() { case $1 in ours-uncached) echo ours ;; *) echo "$1" ;; esac; }
extra_args() { case $1 in ours-uncached) echo --no-cache ;; *) ;; esac; }

# Release, not incremental (CARGO_INCREMENTAL=0 wins over the environment of a developer's
# shell), at low priority: the machine is shared.
if [ "${PEERS_NO_BUILD:-0}" != 1 ]; then
    built=()
    (cd "$DIR" && CARGO_INCREMENTAL=0 nice -n 10 cargo build --release --locked -p peers-mint)
    for c in "${CONTENDERS[@]}"; do
        if (cd "$DIR" && CARGO_INCREMENTAL=0 nice -n 10 cargo build --release --locked -p "peers-$(binary "$c")"); then
            built+=("$c")
        else
            echo "== $c does not build; left out" >&2
        fi
    done
    CONTENDERS=("${built[@]}")
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/mint" "$WORK/keys"
TOKEN=$(cat "$WORK/keys/token")
OTHER=$(cat "$WORK/keys/token-other-scope")

# Callgrind mode: each server alone under valgrind; its counters are zeroed after the warm-up
# and dumped after the N measured requests.
if [ -n "${PEERS_INSTRUCTIONS:-}" ]; then
    command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
    N=$PEERS_INSTRUCTIONS
    for _ in $(seq 100); do printf 'url = "/photos"\noutput = "/dev/null"\n'; done >"$WORK/warmup.curl"
    for _ in $(seq "$N"); do printf 'url = "/photos"\noutput = "/dev/null"\n'; done >"$WORK/measured.curl"
    declare -A PER_REQUEST
    for c in "${CONTENDERS[@]}"; do
        # shellcheck disable=SC2046 # extra_args is empty or one word
        valgrind --tool=callgrind --callgrind-out-file="$WORK/$c.cg" \
            "$BIN/$(binary "$c")" "$WORK/keys" $(extra_args "$c") >"$WORK/$c.out" 2>"$WORK/$c.err" &
        pid=$!
        PIDS+=("$pid")
        for _ in $(seq 600); do
            grep -q '^listening on ' "$WORK/$c.out" 2>/dev/null && break
            sleep 0.1
        done
        addr=$(sed -n 's/^listening on //p' "$WORK/$c.out")
        [ -n "$addr" ] || { echo "== $c did not start under valgrind" >&2; exit 1; }
        # One connection for all: curl reuses it for every URL of a config file.
        sed -i "s|\"/photos\"|\"http://$addr/photos\"|" "$WORK/warmup.curl" "$WORK/measured.curl"
        curl -s -H "Authorization: Bearer $TOKEN" -K "$WORK/warmup.curl"
        callgrind_control -z "$pid" >/dev/null 2>&1
        codes=$(curl -s -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" -K "$WORK/measured.curl" | sort -u | tr '\n' ' ')
        callgrind_control -d "$pid" >/dev/null 2>&1
        sed -i "s|http://$addr/photos|/photos|" "$WORK/warmup.curl" "$WORK/measured.curl"
        [ "$codes" = "200 " ] || { echo "== $c answered $codes" >&2; exit 1; }
        total=$(awk '/^summary:/ { print $2 }' "$WORK/$c.cg.1")
        kill "$pid"
        PER_REQUEST[$c]=$((total / N))
        printf '%-15s %12d instructions per request (%d requests)\n' "$c" "${PER_REQUEST[$c]}" "$N"
    done
    if [ -n "${PER_REQUEST[ours]:-}" ]; then
        for c in "${CONTENDERS[@]}"; do
            [ "$c" = ours ] && continue
            echo "ours / $c (throughput-equivalent, X's instructions / ours): $(awk -v a="${PER_REQUEST[$c]}" -v b="${PER_REQUEST[ours]}" 'BEGIN { printf "%.2f", a / b }')"
        done
    fi
    exit 0
fi

declare -A ADDR PID
for c in "${CONTENDERS[@]}"; do
    # shellcheck disable=SC2046 # extra_args is empty or one word
    "$BIN/$(binary "$c")" "$WORK/keys" $(extra_args "$c") >"$WORK/$c.out" 2>"$WORK/$c.err" &
    PIDS+=($!)
    PID[$c]=$!
    for _ in $(seq 100); do
        grep -q '^listening on ' "$WORK/$c.out" 2>/dev/null && break
        sleep 0.1
    done
    addr=$(sed -n 's/^listening on //p' "$WORK/$c.out")
    if [ -z "$addr" ]; then
        echo "== $c did not start:" >&2
        cat "$WORK/$c.err" >&2
        exit 1
    fi
    ADDR[$c]=$addr
done

status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
for c in "${CONTENDERS[@]}"; do
    url="http://${ADDR[$c]}/photos"
    none=$(status "$url")
    other=$(status -H "Authorization: Bearer $OTHER" "$url")
    good=$(status -H "Authorization: Bearer $TOKEN" "$url")
    printf '%-15s %s  no token: %s, other scope: %s, token: %s\n' "$c" "${ADDR[$c]}" "$none" "$other" "$good"
    if [ "$c" = unprotected ]; then
        [ "$good" = 200 ] || { echo "== $c does not serve" >&2; exit 1; }
    elif [ "$none" != 401 ] || [ "$other" != 403 ] || [ "$good" != 200 ]; then
        echo "== $c: expected 401, 403 and 200" >&2
        exit 1
    fi
done

echo
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s, $ROUNDS rounds, token of $(printf %s "$TOKEN" | wc -c) bytes"

# CPU time (user + system, in clock ticks) that a process has used so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# One wrk run; prints requests/s and the server's CPU µs per request, or fails if any answer
# was not a 2xx (a contender that started refusing would otherwise look fast).
run_wrk() {
    local c=$1 seconds=$2 out before after
    before=$(ticks "${PID[$c]}")
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" \
        -H "Authorization: Bearer $TOKEN" "http://${ADDR[$c]}/photos")
    after=$(ticks "${PID[$c]}")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "== $c answered non-2xx under load:" >&2
        echo "$out" >&2
        return 1
    fi
    awk -v cpu=$(((after - before) * TICK_US)) '
        /requests in/ { requests = $1 }
        /^Requests\/sec:/ { rps = $2 }
        END { printf "%s %.2f\n", rps, cpu / requests }' <<<"$out"
}

for c in "${CONTENDERS[@]}"; do run_wrk "$c" "$WARMUP" >/dev/null; done

declare -A RESULT CPU
n=${#CONTENDERS[@]}
for r in $(seq "$ROUNDS"); do
    line="round $r:"
    for i in $(seq 0 $((n - 1))); do
        c=${CONTENDERS[$(((i + r - 1) % n))]}
        result=$(run_wrk "$c" "$SECONDS_PER_RUN")
        read -r rps cpu <<<"$result"
        RESULT[$c]="${RESULT[$c]:-} $rps"
        CPU[$c]="${CPU[$c]:-} $cpu"
        line="$line $c=$rps (${cpu} µs)"
    done
    echo "$line (load $(cut -d' ' -f1-3 /proc/loadavg))"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "| contender | requests/s per round | median | server CPU µs per request, per round | median |"
echo "|---|---|---:|---|---:|"
declare -A MEDIAN CPU_MEDIAN
rounds() { sed 's/ / · /g; s/^ · / /' <<<"$1"; }
for c in "${CONTENDERS[@]}"; do
    MEDIAN[$c]=$(median <<<"${RESULT[$c]}")
    CPU_MEDIAN[$c]=$(median <<<"${CPU[$c]}")
    printf '| %s |%s | %.0f |%s | %.2f |\n' "$c" "$(rounds "${RESULT[$c]}")" "${MEDIAN[$c]}" \
        "$(rounds "${CPU[$c]}")" "${CPU_MEDIAN[$c]}"
done

if [ -n "${MEDIAN[ours]:-}" ]; then
    echo
    echo "ours / X: requests/s (medians); by CPU: X's CPU per request / ours (medians)"
    for c in "${CONTENDERS[@]}"; do
        [ "$c" = ours ] && continue
        echo "ours / $c: $(ratio "${MEDIAN[ours]}" "${MEDIAN[$c]}"); by CPU $(ratio "${CPU_MEDIAN[$c]}" "${CPU_MEDIAN[ours]}")"
    done
    if [ -n "${MEDIAN[unprotected]:-}" ]; then
        read -ra o <<<"${RESULT[ours]}"
        read -ra u <<<"${RESULT[unprotected]}"
        read -ra oc <<<"${CPU[ours]}"
        read -ra uc <<<"${CPU[unprotected]}"
        per_round=""
        per_round_cpu=""
        for i in "${!o[@]}"; do
            per_round="$per_round $(ratio "${o[$i]}" "${u[$i]}")"
            per_round_cpu="$per_round_cpu $(ratio "${uc[$i]}" "${oc[$i]}")"
        done
        echo "ours / unprotected per round:$per_round (median $(median <<<"$per_round")); by CPU:$per_round_cpu (median $(median <<<"$per_round_cpu"))"
    fi
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
