# shellcheck shell=bash
# A throwaway PostgreSQL server for the test run.
#
# pg_start: initdb into a fresh temp dir, start on 127.0.0.1 at a free port
# with the unix socket inside the temp dir (so it never clashes with a system
# cluster in /var/run/postgresql), tuned for speed not durability, and export
#   VALFRI_TEST_PG_URL=postgres://valfri:valfri@127.0.0.1:PORT/postgres
# The role is a superuser, so the Rust harness can CREATE DATABASE per test.
# pg_stop: stop it and delete the dir; call it from the EXIT trap.

PG_DIR=''
PG_PORT=''
PG_BIN=''
PG_USER=valfri
PG_PASSWORD=valfri

# Highest-versioned server under /usr/lib/postgresql (Debian's layout).
_pg_find_bin() {
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] ||
    die "no PostgreSQL server found under /usr/lib/postgresql/*/bin"
  PG_BIN=$d
}

# initdb and the server refuse to run as root; on CI we are root, so run them
# as Debian's `postgres` system user (created by the postgresql package).
_pg_as_owner() {
  if [[ $EUID -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A port nothing listens on right now. Racy by nature, so pg_start retries
# with another port if the server still fails to bind.
_pg_pick_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    # bash's /dev/tcp: connecting succeeds only if something listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "could not find a free TCP port for PostgreSQL"
}

pg_start() {
  _pg_find_bin
  # /tmp rather than $TMPDIR: the postgres user must be able to reach it.
  PG_DIR=$(mktemp -d /tmp/valfri-pg.XXXXXX)
  chmod 700 "$PG_DIR"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DIR"

  local pwfile="$PG_DIR/pw"
  # shellcheck disable=SC2016 # $1/$2 are sh's positional args, not ours
  _pg_as_owner sh -c 'umask 077 && printf "%s\n" "$1" >"$2"' sh "$PG_PASSWORD" "$pwfile"
  # trust auth on loopback and the private socket only: the server is
  # reachable from this machine alone and lives for one test run. The role
  # still gets a password so the URL works if auth is ever tightened.
  _pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" --pwfile="$pwfile" \
    --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }

  # Speed over durability: the data is thrown away at exit anyway.
  # max_connections is generous because every test opens its own pool.
  local opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DIR"
  opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  opts+=" -c wal_level=minimal -c max_wal_senders=0 -c max_connections=300"
  opts+=" -c shared_buffers=128MB -c checkpoint_timeout=1h -c max_wal_size=4GB"
  opts+=" -c log_min_messages=warning -c log_min_error_statement=panic"

  local attempt
  for attempt in 1 2 3 4 5; do
    PG_PORT=$(_pg_pick_port)
    if _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
        -o "-p $PG_PORT $opts" -w -t 60 start >/dev/null 2>&1; then
      break
    fi
    warn "PostgreSQL did not start on port $PG_PORT (attempt $attempt):"
    tail -n 5 "$PG_DIR/server.log" >&2 || true
    PG_PORT=''
  done
  [[ -n "$PG_PORT" ]] || die "PostgreSQL failed to start; log: $PG_DIR/server.log"

  export VALFRI_TEST_PG_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"
  log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (data in $PG_DIR)"
}

pg_stop() {
  [[ -n "$PG_DIR" ]] || return 0
  if [[ -n "$PG_PORT" && -f "$PG_DIR/data/postmaster.pid" ]]; then
    # fast = roll back open transactions and disconnect clients; immediate
    # as a fallback if a stuck test connection holds it up.
    _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
      warn "could not stop PostgreSQL in $PG_DIR"
  fi
  rm -rf "$PG_DIR"
  PG_DIR=''
  PG_PORT=''
}
