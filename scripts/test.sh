#!/usr/bin/env bash
# Runs Troupe's tests against a real RabbitMQ and PostgreSQL: installs and starts them when needed (and
# stops them afterwards if this script started them; TROUPE_KEEP_SERVICES=1 keeps them), builds once,
# then runs the whole suite, and the release build end to end. Extra arguments go to `swift test` (e.g.
# --filter SupervisionTests) and skip the outage tests, the sanitizers and the release smoke.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# A running Troupe (scripts/run.sh) consumes the queues the tests publish to, on the same broker: its nodes
# would take the tests' messages and the tests would time out. Say so instead.
if running=$(pgrep -af '/troupe (up|node)( |$)'); then
  echo "scripts/test.sh: Troupe is running on this machine's broker and database; stop it first (Ctrl-C in the" >&2
  echo "terminal of scripts/run.sh): its nodes would take the tests' messages. Running: ${running%%$'\n'*}" >&2
  exit 1
fi
if ! scripts/services.sh status >/dev/null 2>&1; then
  scripts/services.sh start
  [ "${TROUPE_KEEP_SERVICES:-0}" = 1 ] || trap 'scripts/services.sh stop' EXIT
fi
eval "$(scripts/services.sh env)"
export TROUPE_AMQP_URL TROUPE_DATABASE_URL TROUPE_SMTP_URL TROUPE_MAILDIR
swift build --build-tests
swift test --skip-build --disable-xctest "$@"
# The broker-outage tests close every broker connection and restart the broker: they run alone, after;
# then the ActorRuntime and Bridges suites under ThreadSanitizer and AddressSanitizer (scripts/sanitize.sh;
# TROUPE_SKIP_SANITIZERS=1 skips them), then the release build end to end (scripts/release-smoke.sh;
# TROUPE_SKIP_RELEASE_SMOKE=1 skips it).
if [ $# -eq 0 ]; then
  TROUPE_OUTAGE_TESTS=1 swift test --skip-build --disable-xctest --filter BrokerOutageTests
  [ "${TROUPE_SKIP_SANITIZERS:-0}" = 1 ] || scripts/sanitize.sh
  [ "${TROUPE_SKIP_RELEASE_SMOKE:-0}" = 1 ] || scripts/release-smoke.sh
fi
