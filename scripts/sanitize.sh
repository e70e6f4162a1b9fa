#!/usr/bin/env bash
# Runs the ActorRuntime and Bridges test suites under ThreadSanitizer, then under AddressSanitizer, each
# build in a folder of its own (.build-tsan, .build-asan), against the broker and database that
# scripts/services.sh runs (started here when needed). Any sanitizer report fails the run: a data race
# (TSan exits non-zero when it reported one), a use after free or overflow (ASan aborts at the first).
# `scripts/sanitize.sh thread` or `address` runs one; extra arguments after it go to `swift test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! scripts/services.sh status >/dev/null 2>&1; then
  scripts/services.sh start
  [ "${TROUPE_KEEP_SERVICES:-0}" = 1 ] || trap 'scripts/services.sh stop' EXIT
fi
eval "$(scripts/services.sh env)"
export TROUPE_AMQP_URL TROUPE_DATABASE_URL
kinds=(thread address)
if [ $# -gt 0 ]; then kinds=("$1"); shift; fi
filter=(--filter 'ActorRuntimeTests|BridgesTests')
[ $# -gt 0 ] && filter=("$@")
for kind in "${kinds[@]}"; do
  case "$kind" in
    # -D TROUPE_TSAN: locks the sanitizer can see (Sources/ActorRuntime/Sanitizers/SanitizerVisibleMutex.swift).
    thread) path=.build-tsan; flags=(-Xswiftc -DTROUPE_TSAN)
            export TSAN_OPTIONS="${TSAN_OPTIONS:-suppressions=$PWD/scripts/tsan-suppressions.txt}" ;;
    address) path=.build-asan; flags=()
             # Leaks are not this step's subject: the Swift runtime keeps caches and detached tasks alive at exit.
             export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" ;;
    *) echo "scripts/sanitize.sh: unknown sanitizer '$kind' (thread or address)" >&2; exit 2 ;;
  esac
  echo "== $kind sanitizer: building in $path"
  swift build --build-tests --sanitize="$kind" --build-path "$path" "${flags[@]}"
  echo "== $kind sanitizer: ${filter[*]}"
  # One test at a time: instrumented code runs several times slower, and tests running side by side on two
  # cores starved each other past their deadlines (flaky timeouts, not findings).
  # The reports are repeated at the end (CI shows the tail of a long log): each one's first lines.
  log="$path/sanitize-test.log"
  status=0
  swift test --skip-build --disable-xctest --no-parallel --sanitize="$kind" --build-path "$path" "${flags[@]}" "${filter[@]}" 2>&1 \
    | tee "$log" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "== $kind sanitizer: failed (exit $status); its reports, first 40 lines of each:"
    awk '/^(WARNING|ERROR): (ThreadSanitizer|AddressSanitizer)/ { n = 40 } n > 0 { print; n-- }' "$log" | cut -c1-300
    exit "$status"
  fi
done
