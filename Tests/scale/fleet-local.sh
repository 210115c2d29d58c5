#!/usr/bin/env bash
# `make fleet`: a fleet against the embedded default. Starts a records service (SQLite and a folder) on a
# free loopback port in a new folder, makes an admin user for the fleet's provisioning, runs
# `bodycam fleet` with the arguments given, and stops the service however the fleet ends.
# Usage: fleet-local.sh BODYCAM BODYCAM_RECORDS [fleet arguments...]
set -euo pipefail
bodycam=$1 records=$2
shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/bodycam-fleet.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true; }
trap cleanup EXIT INT TERM
"$records" user add fleet --role admin --data "$work/records" > "$work/admin-token"
"$records" serve --data "$work/records" --listen 127.0.0.1:0 --retention-every 0 > "$work/serve.log" 2> "$work/serve.err" &
pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*"listening".*"port":\([0-9]*\).*/\1/p' "$work/serve.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 2; }
  sleep 0.1
done
[ -n "$port" ] || { echo "fleet-local: the records service did not start" >&2; exit 2; }
echo "records service on http://127.0.0.1:$port, data in $work/records" >&2
status=0
BODYCAM_ADMIN_TOKEN=$(cat "$work/admin-token") "$bodycam" fleet --records "http://127.0.0.1:$port" --work "$work/fleet" "$@" || status=$?
echo "catalogue: $records recordings --data $work/records (the service is stopped now)" >&2
exit $status
