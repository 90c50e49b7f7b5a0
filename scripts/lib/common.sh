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
