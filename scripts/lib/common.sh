# Shared settings for the project's scripts. Source it; do not run it.
# Everything the scripts install lives under one cache folder, readable by the
# non-root user that runs the PostgreSQL servers (initdb refuses root).

if [ "$(id -u)" = 0 ]; then
  : "${SRC_SNAPSHOT_CACHE:=/var/cache/src-snapshot}"
else
  : "${SRC_SNAPSHOT_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/src-snapshot}"
fi
export SRC_SNAPSHOT_CACHE
# Server binaries: $SRC_SNAPSHOT_CACHE/pg/<major>/bin; clients: .../pgclient/<major>/bin.
export SRC_SNAPSHOT_PG_ROOT="$SRC_SNAPSHOT_CACHE"
# The account that owns test and demo servers when the scripts run as root.
: "${SRC_SNAPSHOT_PG_USER:=srcsnap-pg}"
export SRC_SNAPSHOT_PG_USER

PROJECT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PROJECT_ROOT

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

# ensure_pg_user: as root, create the dedicated non-root account (idempotent).
ensure_pg_user() {
  [ "$(id -u)" = 0 ] || return 0
  if ! id "$SRC_SNAPSHOT_PG_USER" >/dev/null 2>&1; then
    log "creating system user $SRC_SNAPSHOT_PG_USER to run PostgreSQL servers"
    useradd --system --create-home --shell /usr/sbin/nologin "$SRC_SNAPSHOT_PG_USER" \
      || die "could not create user $SRC_SNAPSHOT_PG_USER"
  fi
}

# ensure_cargo: make cargo reachable (rustup installs it under ~/.cargo/bin).
ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs) and re-run"
}

# as_pg_user CMD...: run CMD as the server account (initdb refuses root).
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$SRC_SNAPSHOT_PG_USER" -- "$@"
  else
    "$@"
  fi
}

# pg_cluster_start MAJOR DATADIR PORT: initdb (once) and start a server on
# 127.0.0.1:PORT, superuser postgres trusted locally, others by password.
pg_cluster_start() {
  local major=$1 data=$2 port=$3 bin
  bin=$("$PROJECT_ROOT/scripts/install-postgres" "$major")
  mkdir -p "$(dirname "$data")"
  if [ "$(id -u)" = 0 ]; then chown "$SRC_SNAPSHOT_PG_USER" "$(dirname "$data")"; fi
  if [ ! -s "$data/PG_VERSION" ]; then
    log "initdb PostgreSQL $major in $data"
    as_pg_user "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
    cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    cat > "$data/pg_hba.conf" <<HBA
local all postgres trust
host  all postgres 127.0.0.1/32 trust
host  all all      127.0.0.1/32 scram-sha-256
HBA
  fi
  if as_pg_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "PostgreSQL $major already running on port $port"
  else
    log "starting PostgreSQL $major on 127.0.0.1:$port"
    as_pg_user "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start >/dev/null \
      || { tail -20 "$data/server.log" >&2; die "PostgreSQL $major did not start (log: $data/server.log)"; }
  fi
}

# pg_cluster_stop MAJOR DATADIR
pg_cluster_stop() {
  local bin=$SRC_SNAPSHOT_CACHE/pg/$1/bin
  [ -s "$2/PG_VERSION" ] || return 0
  as_pg_user "$bin/pg_ctl" -D "$2" -m fast stop >/dev/null 2>&1 || true
}
