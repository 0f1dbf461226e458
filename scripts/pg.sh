#!/usr/bin/env bash
# Starts a throwaway Postgres cluster for the tests, unless
# MARTINGALE_TEST_PG_URL already names one. Source it from scripts/test.sh:
#   . scripts/pg.sh   (exports MARTINGALE_TEST_PG_URL; stops the server on exit)
# Installs Debian's postgresql package when the server binaries are missing
# (CI runs as root). The cluster lives in a temporary folder, listens on
# 127.0.0.1 only, on a free port, and is removed when the shell exits.
if [ -n "${MARTINGALE_TEST_PG_URL:-}" ]; then
  return 0 2>/dev/null || exit 0
fi
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  echo "postgres: installing the server (apt-get install postgresql)"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) ||
      { echo "postgres: could not install the server" >&2; return 1 2>/dev/null || exit 1; }
  else
    echo "postgres: the server is missing and this user cannot install it; set MARTINGALE_TEST_PG_URL" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
PG_BIN=$(pg_bin)
PG_DIR=$(mktemp -d /tmp/martingale-pg.XXXXXX)
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Postgres refuses to run as root: run the cluster as the `postgres` user.
PG_RUN=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$PG_DIR"
  PG_RUN=(runuser -u postgres --)
fi
"${PG_RUN[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U martingale --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
  { cat "$PG_DIR/initdb.log" >&2; return 1 2>/dev/null || exit 1; }
"${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
  -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c max_connections=200" start >/dev/null ||
  { cat "$PG_DIR/server.log" >&2; return 1 2>/dev/null || exit 1; }
pg_stop() { "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1; rm -rf "$PG_DIR"; }
trap pg_stop EXIT
export MARTINGALE_TEST_PG_URL="postgres://martingale@127.0.0.1:$PG_PORT/postgres"
echo "postgres: throwaway cluster on 127.0.0.1:$PG_PORT"
