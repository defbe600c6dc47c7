#!/usr/bin/env bash
# `GET /auth/login` redirects per second of the sample sites, this checkout against an older
# revision, in one wrk run: each site is started once (offline, each with its own mock
# Discord), then wrk (1 thread, 64 connections) measures every site in turn for SECONDS,
# ROUNDS times, every other round in reverse order. Prints each round and the medians.
#
#   bash tests/bench/scripts/login-rps.sh [OLD_REV]   # default ae0b4a8 (stateful logins)
#
# Options: ROUNDS (7), SECONDS (5), CONNECTIONS (64), OLD_TREE (where the old revision is
# checked out, default target/login-rps-tree), OLD_TARGET (the old build's target
# directory, default target/login-rps-old). Needs wrk and curl.
set -euo pipefail
OLD_REV=${1:-ae0b4a8}
ROUNDS=${ROUNDS:-7}
SECONDS_PER=${SECONDS:-5}
CONNECTIONS=${CONNECTIONS:-64}
ROOT=$(git rev-parse --show-toplevel)
OLD_TREE=${OLD_TREE:-$ROOT/target/login-rps-tree}
OLD_TARGET=${OLD_TARGET:-$ROOT/target/login-rps-old}
URL_PATH='/auth/login?return_to=%2F'

if [ ! -d "$OLD_TREE" ]; then
    git -C "$ROOT" worktree add --detach "$OLD_TREE" "$OLD_REV" >/dev/null
fi
git -C "$OLD_TREE" checkout --quiet --detach "$OLD_REV"
(cd "$OLD_TREE" && CARGO_TARGET_DIR=$OLD_TARGET cargo build --release -p axum-site -p actix-site)
(cd "$ROOT" && cargo build --release -p axum-site -p actix-site)

declare -A BIN=(
    [axum-old]=$OLD_TARGET/release/axum-site [axum-new]=$ROOT/target/release/axum-site
    [actix-old]=$OLD_TARGET/release/actix-site [actix-new]=$ROOT/target/release/actix-site
)
NAMES=(axum-old axum-new actix-old actix-new)
declare -A PORT PID
port=38700
for name in "${NAMES[@]}"; do
    port=$((port + 1))
    PORT[$name]=$port
    env -u DISCORD_CLIENT_ID SESSION_STORE=memory BIND=127.0.0.1:$port RUST_LOG=error "${BIN[$name]}" >/dev/null 2>&1 &
    PID[$name]=$!
done
trap 'kill "${PID[@]}" 2>/dev/null || true' EXIT
for name in "${NAMES[@]}"; do
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:${PORT[$name]}/" && break
        sleep 0.2
    done
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$name]}$URL_PATH")
    [ "$code" = 303 ] || { echo "$name answered $code to $URL_PATH" >&2; exit 1; }
done

declare -A RESULTS
for round in $(seq "$ROUNDS"); do
    order=("${NAMES[@]}")
    if [ $((round % 2)) = 0 ]; then order=(actix-new actix-old axum-new axum-old); fi
    for name in "${order[@]}"; do
        rps=$(wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER}s" "http://127.0.0.1:${PORT[$name]}$URL_PATH" |
            awk '/Requests\/sec/ {printf "%d", $2}')
        RESULTS[$name]="${RESULTS[$name]:-} $rps"
        echo "round $round $name $rps"
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| \`GET $URL_PATH\` | $OLD_REV (redirects/s) | $(git -C "$ROOT" describe --always --dirty) (redirects/s) | new / old |"
echo "|---|---:|---:|---:|"
for fw in axum actix; do
    old=$(echo "${RESULTS[$fw-old]}" | median)
    new=$(echo "${RESULTS[$fw-new]}" | median)
    echo "| $fw-site, memory store | $old | $new | $(awk "BEGIN {printf \"%.2f×\", $new / $old}") |"
done
