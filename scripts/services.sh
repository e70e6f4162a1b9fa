#!/usr/bin/env bash
# Troupe's development services: a private RabbitMQ, a private PostgreSQL and an SMTP server (aiosmtpd,
# which keeps every message it gets in a Maildir) on 127.0.0.1, run as this checkout's own processes (no
# systemd), with their data under .troupe/ (git-ignored; mail in .troupe/mail/new).
#
# usage: scripts/services.sh start|stop|status|env|rabbitmqctl ARGS...|restart-rabbitmq
#   start   install what is missing (apt), start all three, wait until they accept connections (idempotent)
#   stop    stop them (idempotent)
#   status  say what is up and on which ports; exit 0 only when all are up
#   env     print TROUPE_AMQP_URL=..., TROUPE_DATABASE_URL=..., TROUPE_SMTP_URL=... and TROUPE_MAILDIR=... lines,
#           for `eval "$(scripts/services.sh env)"`
#   rabbitmqctl ARGS...  the project broker's rabbitmqctl (e.g. list_queues, close_all_connections why)
#   restart-rabbitmq     stop and start the broker (the outage tests use it)
#
# env: TROUPE_RMQ_PORT (default 5679), TROUPE_PG_PORT (default 5439), TROUPE_SMTP_PORT (default 2526) —
#      chosen not to clash with a system RabbitMQ (5672), PostgreSQL (5432) or mail server (25). The broker also uses PORT+20000 (Erlang distribution) and
#      PORT+21000 (its own epmd), all on 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA="$ROOT/.troupe"
RMQ_PORT=${TROUPE_RMQ_PORT:-5679}
PG_PORT=${TROUPE_PG_PORT:-5439}
RMQ_DIST_PORT=$((RMQ_PORT + 20000))
RMQ_EPMD_PORT=$((RMQ_PORT + 21000))
RMQ_DIR="$DATA/rabbitmq"
RMQ_NODE="troupe$RMQ_PORT@localhost"
PG_DIR="$DATA/postgres"
PGDATA="$PG_DIR/data"
PG_SOCK="/tmp/troupe-pg-$PG_PORT"      # unix socket paths are limited to 107 bytes: keep it short
PG_USER=troupe PG_PASSWORD=troupe PG_DB=troupe
SMTP_PORT=${TROUPE_SMTP_PORT:-2526}
MAIL_DIR="$DATA/mail"

log() { printf 'services: %s\n' "$*"; }
die() { printf 'services: %s\n' "$*" >&2; exit 1; }

# A pid is alive when it exists and is not a zombie (PID 1 here reaps orphans late; kill -0 succeeds on zombies).
pid_alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; }
alive() { [ -f "$1" ] && pid_alive "$(cat "$1")"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# ---------------------------------------------------------------- install
install_missing() {
  local need=()
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
  [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || need+=(postgresql)
  [ -f /usr/include/amqp.h ] || [ -f /usr/include/rabbitmq-c/amqp.h ] || need+=(librabbitmq-dev)
  [ -f /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
  command -v pkg-config >/dev/null || need+=(pkgconf)
  [ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/aarch64-linux-gnu/curl/curl.h ] ||
    [ -f /usr/include/curl/curl.h ] || need+=(libcurl4-openssl-dev)
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing packages (${need[*]}): run as root or install them with apt"
  log "installing ${need[*]} (apt)"
  # Keep the packages' install scripts from starting system-wide daemons: we run our own instances.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1; fi
  local ok=0
  for _ in 1 2 3; do
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
      ok=1; break
    fi
    sleep 5
  done
  [ $created = 1 ] && rm -f "$policy"
  [ $ok = 1 ] || die "apt-get install ${need[*]} failed"
  # The rabbitmq-server package may leave an epmd running from its install attempt; it is not ours to use,
  # but it must not hold our ports (it listens on 4369 only).
}

# ---------------------------------------------------------------- RabbitMQ
rmq_env() {
  export HOME="$RMQ_DIR/home"                       # the Erlang cookie lives in $HOME (server and CLI)
  export RABBITMQ_NODENAME="$RMQ_NODE"              # @localhost: no dependency on the hostname resolving
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$RMQ_PORT"
  export RABBITMQ_DIST_PORT="$RMQ_DIST_PORT"
  export ERL_EPMD_PORT="$RMQ_EPMD_PORT"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
  export RABBITMQ_LOG_BASE="$RMQ_DIR/log"
  export RABBITMQ_PID_FILE="$RMQ_DIR/beam.pid"
  export RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
  export ERL_CRASH_DUMP="$RMQ_DIR/erl_crash.dump"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

# rabbitmqctl spawns an untracked `epmd -daemon` when none listens on ERL_EPMD_PORT: only call it while ours runs.
rmq_ctl() {
  alive "$RMQ_DIR/epmd.pid" || return 69
  (rmq_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RMQ_NODE" "$@")
}

rmq_up() { alive "$RMQ_DIR/server.pid" && port_open "$RMQ_PORT"; }

rmq_start() {
  if rmq_up; then log "rabbitmq already up on 127.0.0.1:$RMQ_PORT"; return 0; fi
  local t0; t0=$(date +%s%N)
  mkdir -p "$RMQ_DIR/home" "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
  # another broker on our ports would make the readiness probe lie: refuse loudly
  for p in "$RMQ_PORT" "$RMQ_DIST_PORT"; do
    port_open "$p" && die "rabbitmq: 127.0.0.1:$p is already in use (set TROUPE_RMQ_PORT)"
  done
  if ! alive "$RMQ_DIR/epmd.pid" && port_open "$RMQ_EPMD_PORT"; then
    die "rabbitmq: epmd port $RMQ_EPMD_PORT is already in use (set TROUPE_RMQ_PORT)"
  fi
  if [ ! -s "$RMQ_DIR/home/.erlang.cookie" ]; then
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RMQ_DIR/home/.erlang.cookie"
  fi
  chmod 400 "$RMQ_DIR/home/.erlang.cookie"          # erl refuses a cookie others can read
  : > "$RMQ_DIR/rabbitmq-env.conf"                  # do not read /etc/rabbitmq/rabbitmq-env.conf
  cat > "$RMQ_DIR/rabbitmq.conf" <<EOF
log.console = false
log.file.level = info
EOF
  echo "[]." > "$RMQ_DIR/advanced.config"
  echo "[]." > "$RMQ_DIR/enabled_plugins"
  rmq_env
  if ! alive "$RMQ_DIR/epmd.pid"; then              # private epmd in the foreground, so we own its pid
    setsid /usr/bin/epmd -port "$RMQ_EPMD_PORT" -address 127.0.0.1 >"$RMQ_DIR/log/epmd.log" 2>&1 </dev/null &
    echo $! > "$RMQ_DIR/epmd.pid"
  fi
  # foreground mode under setsid: the sh wrapper stays the parent of beam.smp and turns SIGTERM into a clean stop
  (cd "$RMQ_DIR" && exec setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$RMQ_DIR/log/stdout.log" 2>&1 </dev/null) &
  echo $! > "$RMQ_DIR/server.pid"
  local deadline=$((SECONDS + 120))
  until port_open "$RMQ_PORT"; do
    if ! alive "$RMQ_DIR/server.pid"; then tail -20 "$RMQ_DIR/log/stdout.log" >&2; die "rabbitmq died during startup; see $RMQ_DIR/log"; fi
    [ $SECONDS -lt $deadline ] || die "rabbitmq: not listening after 120 s; see $RMQ_DIR/log"
    sleep 0.2
  done
  rmq_ctl -q await_startup --timeout 60 >/dev/null || die "rabbitmq: await_startup failed; see $RMQ_DIR/log"
  log "rabbitmq up on 127.0.0.1:$RMQ_PORT in $(ms_since "$t0") ms"
}

rmq_stop() {
  if alive "$RMQ_DIR/server.pid"; then
    local pid; pid=$(cat "$RMQ_DIR/server.pid")
    rmq_ctl -q shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; sleep 2; fi
    if alive "$RMQ_DIR/beam.pid"; then kill -KILL "$(cat "$RMQ_DIR/beam.pid")" 2>/dev/null || true; fi
    log "rabbitmq stopped"
  fi
  rm -f "$RMQ_DIR/server.pid"
  [ "${1:-}" = keep-epmd ] && return 0                  # a restart keeps its epmd (and its port)
  # epmd may ignore SIGTERM: ask it to stop (`epmd -kill`), then make sure
  if alive "$RMQ_DIR/epmd.pid"; then
    local epmd; epmd=$(cat "$RMQ_DIR/epmd.pid")
    /usr/bin/epmd -port "$RMQ_EPMD_PORT" -kill >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do pid_alive "$epmd" || break; sleep 0.1; done
    pid_alive "$epmd" && kill -KILL "$epmd" 2>/dev/null || true
  fi
  rm -f "$RMQ_DIR/epmd.pid"
  for _ in $(seq 1 50); do port_open "$RMQ_EPMD_PORT" || break; sleep 0.1; done
}

# ---------------------------------------------------------------- PostgreSQL
as_pg() { (cd "$PG_DIR" && runuser -u postgres -- "$@"); }   # postgres refuses to run as root
pg_running() { [ -f "$PGDATA/postmaster.pid" ] && pid_alive "$(head -1 "$PGDATA/postmaster.pid")"; }
pg_up() { pg_running && "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

pg_start() {
  local bin; bin=$(pg_bin)
  if pg_up; then log "postgres already up on 127.0.0.1:$PG_PORT"; return 0; fi
  local t0; t0=$(date +%s%N)
  mkdir -p "$PG_DIR" "$PG_SOCK"
  chown postgres:postgres "$PG_DIR" "$PG_SOCK"; chmod 700 "$PG_SOCK"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    # superuser: trust over the private unix socket only; TCP logins need a password (scram)
    as_pg "$bin/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log"
    cat >> "$PGDATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
logging_collector = off
max_connections = 200
EOF
  fi
  if ! pg_running; then
    port_open "$PG_PORT" && die "postgres: 127.0.0.1:$PG_PORT is already in use (set TROUPE_PG_PORT)"
    # After a kill -9 the dead postmaster may linger as a zombie and leave lock files behind;
    # when no live process sits in the data dir, they are stale.
    if [ -f "$PGDATA/postmaster.pid" ] || [ -f "$PG_SOCK/.s.PGSQL.$PG_PORT.lock" ]; then
      local real p; real=$(readlink -f "$PGDATA")
      for p in /proc/[0-9]*; do
        [ "$(readlink "$p/cwd" 2>/dev/null)" = "$real" ] && die "postgres: live process ${p#/proc/} still in $PGDATA"
      done
      rm -f "$PGDATA/postmaster.pid" "$PG_SOCK/.s.PGSQL.$PG_PORT.lock"
    fi
    as_pg "$bin/pg_ctl" -D "$PGDATA" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null ||
      { tail -20 "$PG_DIR/server.log" >&2; die "postgres failed to start; see $PG_DIR/server.log"; }
  fi
  local deadline=$((SECONDS + 60))
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
    [ $SECONDS -lt $deadline ] || die "postgres: not ready after 60 s; see $PG_DIR/server.log"
    sleep 0.1
  done
  # idempotent role and database, password auth over TCP
  as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres <<EOF
SELECT 'CREATE ROLE $PG_USER LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER')\gexec
ALTER ROLE $PG_USER PASSWORD '$PG_PASSWORD';
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB')\gexec
EOF
  log "postgres up on 127.0.0.1:$PG_PORT in $(ms_since "$t0") ms"
}

pg_stop() {
  if pg_running; then
    as_pg "$(pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    log "postgres stopped"
  fi
}

# ---------------------------------------------------------------- SMTP (aiosmtpd: every message into a Maildir)
smtp_up() { alive "$DATA/smtp.pid" && port_open "$SMTP_PORT"; }

smtp_start() {
  if smtp_up; then log "smtp already up on 127.0.0.1:$SMTP_PORT"; return 0; fi
  port_open "$SMTP_PORT" && die "smtp: 127.0.0.1:$SMTP_PORT is already in use (set TROUPE_SMTP_PORT)"
  local t0; t0=$(date +%s%N)
  mkdir -p "$MAIL_DIR/new" "$MAIL_DIR/cur" "$MAIL_DIR/tmp"       # a Maildir: aiosmtpd does not make one in an existing folder
  setsid /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$MAIL_DIR" \
    >"$DATA/smtp.log" 2>&1 </dev/null &
  echo $! > "$DATA/smtp.pid"
  local deadline=$((SECONDS + 30))
  until port_open "$SMTP_PORT"; do
    alive "$DATA/smtp.pid" || { tail -20 "$DATA/smtp.log" >&2; die "smtp died during startup; see $DATA/smtp.log"; }
    [ $SECONDS -lt $deadline ] || die "smtp: not listening after 30 s; see $DATA/smtp.log"
    sleep 0.1
  done
  log "smtp up on 127.0.0.1:$SMTP_PORT in $(ms_since "$t0") ms (mail in $MAIL_DIR/new)"
}

smtp_stop() {
  if alive "$DATA/smtp.pid"; then
    local pid; pid=$(cat "$DATA/smtp.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    log "smtp stopped"
  fi
  rm -f "$DATA/smtp.pid"
}

# ---------------------------------------------------------------- commands
status() {
  local rc=0
  if rmq_up; then echo "rabbitmq: up on 127.0.0.1:$RMQ_PORT (node $RMQ_NODE, data $RMQ_DIR)"
  else echo "rabbitmq: down (port $RMQ_PORT)"; rc=3; fi
  if [ -n "$(pg_bin)" ] && pg_up; then echo "postgres: up on 127.0.0.1:$PG_PORT (database $PG_DB, data $PGDATA)"
  else echo "postgres: down (port $PG_PORT)"; rc=3; fi
  if smtp_up; then echo "smtp: up on 127.0.0.1:$SMTP_PORT (mail in $MAIL_DIR/new)"
  else echo "smtp: down (port $SMTP_PORT)"; rc=3; fi
  return $rc
}

print_env() {
  echo "TROUPE_AMQP_URL=amqp://guest:guest@127.0.0.1:$RMQ_PORT/%2F"
  echo "TROUPE_DATABASE_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
  echo "TROUPE_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT"
  echo "TROUPE_MAILDIR=$MAIL_DIR"
}

case "${1:-}" in
  start) install_missing; pg_start; rmq_start; smtp_start ;;
  stop) smtp_stop; rmq_stop; [ -n "$(pg_bin)" ] && pg_stop; true ;;
  status) status ;;
  env) print_env ;;
  # for operators and the outage tests: the project broker's rabbitmqctl, and a broker restart
  rabbitmqctl) shift; rmq_ctl "$@" ;;
  restart-rabbitmq) rmq_stop keep-epmd; rmq_start ;;
  *) echo "usage: scripts/services.sh start|stop|status|env|rabbitmqctl ARGS...|restart-rabbitmq" >&2; exit 2 ;;
esac
