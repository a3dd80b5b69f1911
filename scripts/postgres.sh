# Sourced by scripts/test and scripts/measure-propagation: `start_postgres` starts a
# throwaway PostgreSQL server and exports what the tests need to reach it
# (KEYWARD_TEST_POSTGRES_URL, and KEYWARD_TEST_PG_CTL / _PG_RUN_AS for the test that
# runs a server of its own); it is stopped and removed when the sourcing script exits.
# Needs Debian's postgresql package (the sourcing script installs it).
# A throwaway PostgreSQL: initdb refuses to run as root, so as root it runs as the
# system user keyward-test (created if missing); password authentication on loopback,
# so a wrong password is a real failure.
pg_tmp=""
pg_run=()
pg_bin=""
stop_postgres() {
  if [ -n "$pg_tmp" ] && [ -d "$pg_tmp/data" ]; then
    "${pg_run[@]}" "$pg_bin/pg_ctl" -D "$pg_tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$pg_tmp" ]; then rm -rf "$pg_tmp"; fi
}
trap stop_postgres EXIT
start_postgres() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg_tmp=$(mktemp -d /tmp/keyward-pg.XXXXXX)
  if [ "$(id -u)" -eq 0 ]; then
    id keyward-test >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin keyward-test
    chown keyward-test "$pg_tmp"
    pg_run=(runuser -u keyward-test --)
  else
    pg_run=(env)
  fi
  chmod 700 "$pg_tmp"
  local password port
  password="kw-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  "${pg_run[@]}" bash -c "umask 077; printf '%s\n' '$password' > '$pg_tmp/pw'"
  "${pg_run[@]}" "$pg_bin/initdb" -D "$pg_tmp/data" -U keyward --pwfile="$pg_tmp/pw" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >"$pg_tmp/initdb.log" 2>&1 \
    || { cat "$pg_tmp/initdb.log"; exit 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # fsync off: a test server whose data is thrown away. 300 connections: every test
  # server holds a pool.
  "${pg_run[@]}" "$pg_bin/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $port -k $pg_tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" >/dev/null \
    || { cat "$pg_tmp/log"; exit 1; }
  export KEYWARD_TEST_POSTGRES_URL="postgres://keyward:$password@127.0.0.1:$port/postgres"
  export KEYWARD_TEST_PG_CTL="$pg_bin/pg_ctl"
  export KEYWARD_TEST_PG_DATA="$pg_tmp/data"
  export KEYWARD_TEST_PG_OPTIONS="-h 127.0.0.1 -p $port -k $pg_tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
  export KEYWARD_TEST_PG_RUN_AS="$( [ "$(id -u)" -eq 0 ] && echo keyward-test || true )"
  echo "ok: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($pg_tmp)"
}

