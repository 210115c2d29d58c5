#!/bin/bash
# A throw-away PostgreSQL for the catalogue's scale tests, started by hand (no systemd, not the distro's
# cluster): loopback only, role `bodycam` with a password (scram over TCP), database `bodycam`.
#
#   Tests/scale/postgres.sh start DIR PORT   initdb into DIR/data, start, print the URL
#   Tests/scale/postgres.sh stop DIR         stop (idempotent, also after a start that failed halfway)
#   Tests/scale/postgres.sh url DIR          print the URL again
#
# The password: $BODYCAM_CATALOG_PASSWORD if set, else a generated one; either way written to DIR/password
# (mode 0600), which BODYCAM_CATALOG_PASSWORD_FILE can name. The role may create databases: each test
# makes its own. Works as root (the server runs as `postgres`: initdb refuses root) or as any other user.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

pgbin() {
    if [ -n "${PGBIN:-}" ]; then echo "$PGBIN"; return; fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] || die "no PostgreSQL found under /usr/lib/postgresql (apt-get install postgresql), or set PGBIN"
    echo "$d"
}

# Runs a command as the server's user: `postgres` when we are root, ourselves otherwise.
as_server() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

absolute() { (cd "$1" && pwd); }

url_of() { echo "postgres://bodycam@127.0.0.1:$(cat "$1/port")/bodycam"; }

start() {
    [ $# = 2 ] || die "usage: start DIR PORT"
    local dir=$1 port=$2
    [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65535 ] || die "PORT must be 1024-65535, not '$port'"
    mkdir -p "$dir"
    dir=$(absolute "$dir")
    [ ! -e "$dir/data/PG_VERSION" ] || die "$dir/data holds a cluster already: stop DIR and remove it first"
    local bin
    bin=$(pgbin)
    echo "$port" > "$dir/port"

    local password=${BODYCAM_CATALOG_PASSWORD:-}
    if [ -z "$password" ]; then
        password=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
    fi
    case "$password" in *$'\n'*|*$'\r'*) die "BODYCAM_CATALOG_PASSWORD must be one line" ;; esac
    (umask 077 && printf '%s\n' "$password" > "$dir/password")

    mkdir -p "$dir/data" "$dir/run"
    chmod 0700 "$dir/data" "$dir/run"
    if [ "$(id -u)" = 0 ]; then
        id postgres > /dev/null 2>&1 || die "no 'postgres' user (the postgresql package creates it)"
        chown postgres: "$dir/data" "$dir/run"
        chmod 0755 "$dir"
        touch "$dir/postgres.log" && chown postgres: "$dir/postgres.log"
        runuser -u postgres -- test -x "$dir" || die "user postgres cannot reach $dir (a parent folder is private): choose another DIR"
    fi

    # Local socket in DIR/run (mode 0700: only the server's user and root reach it): trust, for this script.
    # TCP on 127.0.0.1: a password (scram-sha-256) for everyone.
    as_server "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        --no-sync > "$dir/initdb.log" 2>&1 || die "initdb failed: see $dir/initdb.log"
    as_server tee -a "$dir/data/postgresql.conf" > /dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
password_encryption = scram-sha-256
max_connections = 200
fsync = off
EOF
    as_server tee "$dir/data/pg_hba.conf" > /dev/null <<EOF
local all all trust
host all all 127.0.0.1/32 scram-sha-256
EOF
    as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start > /dev/null \
        || die "the server did not start (port $port taken?): see $dir/postgres.log"

    # The password goes through stdin, never the command line (ps shows that to every user).
    local quoted=${password//\'/\'\'}
    as_server "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" -U postgres -d postgres > /dev/null <<EOF \
        || die "creating the role and database failed"
CREATE ROLE bodycam LOGIN CREATEDB PASSWORD '$quoted';
CREATE DATABASE bodycam OWNER bodycam;
EOF
    url_of "$dir"
}

stop() {
    [ $# = 1 ] || die "usage: stop DIR"
    local dir=$1
    [ -d "$dir" ] || return 0
    dir=$(absolute "$dir")
    [ -f "$dir/data/postmaster.pid" ] || return 0
    local bin
    bin=$(pgbin)
    # A stale pid file (the server died) makes pg_ctl fail with "no server running": that is stopped too.
    as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop > /dev/null 2>&1 || true
    if as_server "$bin/pg_ctl" -D "$dir/data" status > /dev/null 2>&1; then die "the server in $dir did not stop"; fi
}

url() {
    [ $# = 1 ] || die "usage: url DIR"
    [ -f "$1/port" ] || die "$1: no server was started here"
    url_of "$1"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
    start) start "$@" ;;
    stop) stop "$@" ;;
    url) url "$@" ;;
    *) die "usage: $0 start DIR PORT | stop DIR | url DIR" ;;
esac
