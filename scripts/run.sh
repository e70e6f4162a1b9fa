#!/usr/bin/env bash
# Runs Troupe on this machine: installs what is missing, starts RabbitMQ and PostgreSQL on 127.0.0.1,
# builds, and launches the nodes of topology.json (and the vendor simulator) with `troupe up`.
# Extra arguments go to `troupe up`. Ctrl-C stops every node gracefully.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/services.sh start
eval "$(scripts/services.sh env)"
export TROUPE_AMQP_URL TROUPE_DATABASE_URL TROUPE_SMTP_URL TROUPE_MAILDIR
swift build --product troupe
swift build --product troupe-vendor-sim
swift build --product troupe-payment-sim
cat <<'HOWTO'

Troupe is starting (edge on http://127.0.0.1:8080). In another terminal:

  eval "$(scripts/services.sh env)"; export TROUPE_DATABASE_URL
  .build/debug/troupe partner add acme --wallet 1000 --price-percent 97.5     # prints the API key once
  KEY=tk_...                                                                   # the key it printed
  curl -s localhost:8080/api/brand/getCatalog -H "x-api-key: $KEY"
  curl -s -X POST localhost:8080/api/orders -H "x-api-key: $KEY" \
       -d '{"referenceId": "first-order", "sku": "AMAZON-US-1001", "faceValue": 25, "quantity": 2}'
  curl -s localhost:8080/api/orders/ORDER_ID -H "x-api-key: $KEY"             # Processing, then Completed with cards

HOWTO
exec .build/debug/troupe up "$@"
