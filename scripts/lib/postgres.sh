# A throwaway PostgreSQL cluster for the tests (Debian's postgresql package): its data in a new
# temporary folder, listening on loopback only, stopped and deleted by stop_test_postgres. Sourced by
# scripts/test after common.sh.
# shellcheck shell=bash

# start_test_postgres: starts the cluster and exports CONNECTOR_HOST_TEST_POSTGRES (host, port, user and
# database, no password) and CONNECTOR_HOST_TEST_POSTGRES_PASSWORD (a new random one, for scram-sha-256).
start_test_postgres() {
    local bin
    bin="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "error: PostgreSQL's server is not installed (Debian package postgresql: install_apt_packages)" >&2
        return 1
    fi
    TEST_POSTGRES_DIR="$(mktemp -d /tmp/connector-host-postgres.XXXXXX)"
    TEST_POSTGRES_BIN="$bin"
    # initdb refuses to run as root: the cluster belongs to the postgres user then.
    TEST_POSTGRES_AS=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$TEST_POSTGRES_DIR"
        TEST_POSTGRES_AS=(runuser -u postgres --)
    fi
    local password port
    password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    printf '%s\n' "$password" > "$TEST_POSTGRES_DIR/password"
    chmod 600 "$TEST_POSTGRES_DIR/password"
    [ "$(id -u)" = 0 ] && chown postgres: "$TEST_POSTGRES_DIR/password"
    "${TEST_POSTGRES_AS[@]}" "$bin/initdb" -D "$TEST_POSTGRES_DIR/data" -U connector_host --pwfile="$TEST_POSTGRES_DIR/password" \
        --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$TEST_POSTGRES_DIR/initdb.log" 2>&1 \
        || { cat "$TEST_POSTGRES_DIR/initdb.log" >&2; return 1; }
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    # fsync stays on: the tests measure what a real server does. Unix sockets in the folder, not /run.
    printf '%s\n' "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$TEST_POSTGRES_DIR -c max_connections=200" \
        > "$TEST_POSTGRES_DIR/options"
    launch_test_postgres || return 1
    export CONNECTOR_HOST_TEST_POSTGRES="postgres://connector_host@127.0.0.1:$port/postgres"
    export CONNECTOR_HOST_TEST_POSTGRES_PASSWORD="$password"
    echo "==> a throwaway PostgreSQL on 127.0.0.1:$port ($("$bin/postgres" --version))"
}

# launch_test_postgres: starts the server of TEST_POSTGRES_DIR with the options it was made with.
launch_test_postgres() {
    test_postgres_ctl -l "$TEST_POSTGRES_DIR/server.log" -w -t 60 -o "$(cat "$TEST_POSTGRES_DIR/options")" start >/dev/null \
        || { cat "$TEST_POSTGRES_DIR/server.log" >&2; return 1; }
}

test_postgres_ctl() {
    local bin as=()
    bin="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
    [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$bin/pg_ctl" -D "$TEST_POSTGRES_DIR/data" "$@"
}

# stop_test_postgres: stops the cluster started by start_test_postgres and deletes its folder.
stop_test_postgres() {
    [ -n "${TEST_POSTGRES_DIR:-}" ] && [ -d "$TEST_POSTGRES_DIR" ] || return 0
    test_postgres_ctl -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$TEST_POSTGRES_DIR"
}
