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
# ours / unprotected also per round, as the two ran close together).
#
# Contenders: unprotected (axum 0.8, no authorization), ours (#[requires_scope] behind
# Authenticator::layer(), CachedVerifier), ours-uncached (the README's first example: a
# signature check per request), jwt-authorizer, aliri, huskarl. A contender that does not
# build is reported and left out.
#
# Usage: scripts/http-peers.sh [ROUNDS] [SECONDS]     (default 3 rounds of 10 s)
# Environment: PEERS_CONTENDERS (a subset, space separated), PEERS_THREADS (wrk -t, 1),
# PEERS_CONNECTIONS (wrk -c, 32), PEERS_WARMUP (seconds of wrk before the rounds, 2),
# PEERS_NO_BUILD=1 (use the binaries already built). Needs wrk (Debian: apt-get install wrk)
# and curl. Only loopback is ever contacted.
set -euo pipefail

ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
THREADS=${PEERS_THREADS:-1}
CONNECTIONS=${PEERS_CONNECTIONS:-32}
WARMUP=${PEERS_WARMUP:-2}
CONTENDERS=(${PEERS_CONTENDERS:-unprotected ours ours-uncached jwt-authorizer aliri huskarl})
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

declare -A ADDR
for c in "${CONTENDERS[@]}"; do
    # shellcheck disable=SC2046 # extra_args is empty or one word
    "$BIN/$(binary "$c")" "$WORK/keys" $(extra_args "$c") >"$WORK/$c.out" 2>"$WORK/$c.err" &
    PIDS+=($!)
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

# One wrk run; prints requests/s, or fails if any answer was not a 2xx (a contender that
# started refusing would otherwise look fast).
run_wrk() {
    local c=$1 seconds=$2 out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" \
        -H "Authorization: Bearer $TOKEN" "http://${ADDR[$c]}/photos")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "== $c answered non-2xx under load:" >&2
        echo "$out" >&2
        return 1
    fi
    awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}

for c in "${CONTENDERS[@]}"; do run_wrk "$c" "$WARMUP" >/dev/null; done

declare -A RESULT
n=${#CONTENDERS[@]}
for r in $(seq "$ROUNDS"); do
    line="round $r:"
    for i in $(seq 0 $((n - 1))); do
        c=${CONTENDERS[$(((i + r - 1) % n))]}
        rps=$(run_wrk "$c" "$SECONDS_PER_RUN")
        RESULT[$c]="${RESULT[$c]:-} $rps"
        line="$line $c=$rps"
    done
    echo "$line (load $(cut -d' ' -f1-3 /proc/loadavg))"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "| contender | requests/s per round | median |"
echo "|---|---|---:|"
declare -A MEDIAN
for c in "${CONTENDERS[@]}"; do
    MEDIAN[$c]=$(median <<<"${RESULT[$c]}")
    printf '| %s |%s | %.0f |\n' "$c" "$(sed 's/ / · /g; s/^ · / /' <<<"${RESULT[$c]}")" "${MEDIAN[$c]}"
done

if [ -n "${MEDIAN[ours]:-}" ]; then
    echo
    for c in "${CONTENDERS[@]}"; do
        [ "$c" = ours ] && continue
        echo "ours / $c: $(ratio "${MEDIAN[ours]}" "${MEDIAN[$c]}")"
    done
    if [ -n "${MEDIAN[unprotected]:-}" ]; then
        read -ra o <<<"${RESULT[ours]}"
        read -ra u <<<"${RESULT[unprotected]}"
        per_round=""
        for i in "${!o[@]}"; do per_round="$per_round $(ratio "${o[$i]}" "${u[$i]}")"; done
        echo "ours / unprotected per round:$per_round (median $(median <<<"$per_round"))"
    fi
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
