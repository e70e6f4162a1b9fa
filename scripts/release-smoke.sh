#!/usr/bin/env bash
# The release build, end to end: what the debug test suite cannot see. Swift 6.3.1's optimiser has twice
# broken code that passed every debug test (task-group tuples handed back garbage; an actor resumed off
# its executor, so `troupe up` aborted at a node's second abnormal exit). Needs the services running
# (scripts/test.sh runs this after the suite). It checks that:
#   1. `troupe up` supervises crashing nodes (database unreachable: each exits 69): holds them and stops on
#      SIGTERM with exit 0, or, with "onNodeFailure": "stopAll", gives up with exit 1;
#   2. `troupe up` on private ports takes orders to `Completed` (troupe-bench orders, 200 of them) and
#      stops every node on SIGTERM with exit 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/services.sh env)"
export TROUPE_AMQP_URL TROUPE_DATABASE_URL
for product in troupe troupe-vendor-sim troupe-payment-sim troupe-bench; do swift build -c release --product "$product"; done
bin=.build/release
work=$(mktemp -d)
held=; up=
trap 'kill ${held:-} ${up:-} 2>/dev/null || true; rm -rf "$work"' EXIT
fail() { echo "release smoke: $*" >&2; exit 1; }

# 1. Crashing nodes: restarted with backoff, then held (the default), or, with "onNodeFailure": "stopAll",
#    given up on.
status=0
sed -e 's/^{$/{ "onNodeFailure": "stopAll",/' topology.json >"$work/stopall.json"
grep -q '"onNodeFailure": "stopAll"' "$work/stopall.json" || fail "could not write the stopAll topology (topology.json no longer opens with a line '{')"
TROUPE_DATABASE_URL=postgresql://troupe:troupe@127.0.0.1:1/troupe timeout -k 5 90 "$bin/troupe" up --topology "$work/stopall.json" \
  >"$work/crash.log" 2>&1 || status=$?
[ "$status" = 1 ] || { tail -20 "$work/crash.log" >&2; fail "troupe up (stopAll) with crashing nodes exited $status, not 1"; }
grep -q "restarted too often; stopping every node" "$work/crash.log" || fail "troupe up (stopAll) did not give up on the crashing nodes"
echo "release smoke: troupe up (stopAll) restarted crashing nodes, then gave up (exit 1)"
allHeld() { for n in edge orders workers; do grep -q "node=$n .*held, the other nodes run on" "$work/held.log" || return 1; done; }
touch "$work/held.log"
# timeout ends it (124) if it ignores the SIGTERM below.
TROUPE_DATABASE_URL=postgresql://troupe:troupe@127.0.0.1:1/troupe timeout -k 5 120 "$bin/troupe" up >"$work/held.log" 2>&1 &
held=$!
for _ in $(seq 1 900); do
  allHeld && break
  kill -0 "$held" 2>/dev/null || break
  sleep 0.1
done
allHeld || { kill -9 "$held" 2>/dev/null || true; tail -20 "$work/held.log" >&2; fail "troupe up did not hold the crashing nodes"; }
grep -q "troupe up: status" "$work/held.log" || { tail -20 "$work/held.log" >&2; fail "troupe up printed no status table"; }
kill -TERM "$held" 2>/dev/null || true
status=0; wait "$held" || status=$?; held=
[ "$status" = 0 ] || { tail -20 "$work/held.log" >&2; fail "troupe up holding nodes exited $status on SIGTERM, not 0"; }
echo "release smoke: troupe up held the crashing nodes, printed their status, and stopped on SIGTERM (exit 0)"

# 2. The saga, on ports of its own (so a Troupe already running elsewhere on this machine is no obstacle).
edge=$((20000 + RANDOM % 5000)); vendor=$((25000 + RANDOM % 5000)); provider=$((30000 + RANDOM % 5000))
sed -e "s/\"port\": 8080/\"port\": $edge/" -e "s#127.0.0.1:8090#127.0.0.1:$vendor#" -e "s#127.0.0.1:8091#127.0.0.1:$provider#" \
  topology.json >"$work/topology.json"
"$bin/troupe" up --topology "$work/topology.json" >"$work/up.log" 2>&1 &
up=$!
# Ready when the edge answers and BrandSync's catalog sync has run (synced, or told to wait by the vendor's
# limit when an earlier sync already loaded the catalog).
synced() {
  "$bin/troupe" jobs --topology "$work/topology.json" 2>/dev/null |
    awk -F'\t' '$1 == "catalog-sync" && $3 != "never" && $6 !~ /catalog: failed/ { ok = 1 } END { exit !ok }'
}
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$edge/health" >/dev/null && synced && break
  kill -0 "$up" 2>/dev/null || { tail -20 "$work/up.log" >&2; fail "troupe up ended while starting"; }
  sleep 0.5
done
BENCH_EDGE_URL="http://127.0.0.1:$edge" BENCH_ORDERS=200 "$bin/troupe-bench" orders || { kill -9 "$up"; tail -20 "$work/up.log" >&2; fail "orders did not complete"; }
kill -TERM "$up"
( sleep 60; kill -KILL "$up" 2>/dev/null ) &                   # never a hang: nodes stop within 10 s, up within 12
watchdog=$!
status=0
wait "$up" || status=$?
kill "$watchdog" 2>/dev/null || true
[ "$status" = 0 ] || { tail -20 "$work/up.log" >&2; fail "troupe up exited $status on SIGTERM"; }
! grep -q "Incorrect actor executor" "$work/up.log" "$work/crash.log" "$work/held.log" || fail "an actor ran off its executor"
echo "release smoke: 200 orders completed through the release build; every node stopped on SIGTERM"
