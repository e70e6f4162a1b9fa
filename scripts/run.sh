#!/usr/bin/env bash
# Runs Troupe on this machine: installs what is missing, starts RabbitMQ and PostgreSQL on 127.0.0.1,
# builds, and launches the nodes of topology.json with `troupe up`. Extra arguments go to `troupe up`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/services.sh start
eval "$(scripts/services.sh env)"
export TROUPE_AMQP_URL TROUPE_DATABASE_URL
swift build --product troupe
exec .build/debug/troupe up "$@"
