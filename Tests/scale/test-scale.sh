#!/usr/bin/env bash
# `make test-scale`: the records service at force scale on one machine. Starts PostgreSQL and a single-node
# Ceph with its S3 gateway on loopback, runs the PostgreSQL and S3 tests against them, then two ingest nodes
# sharing them and a fleet of cameras docking through both; kills one node (SIGKILL) during the dock storm
# and restarts the gateway during uploads; then checks the fleet's cross-check (every recording catalogued
# once, verified, with its officer; nothing deleted from a camera without a receipt); sends one recording
# through both nodes at once (two copies of a camera: catalogued once, one version of each blob); re-hashes
# every blob from the gateway (verify-store); runs the retention job on both nodes at once (each deletion
# logged once); and checks the custody chain. Everything it started is stopped at the end, also on failure.
# Usage: test-scale.sh BODYCAM BODYCAM_RECORDS   (env: SCALE_CAMERAS, SCALE_SHIFT, SCALE_WORK, SKIP_UNIT=1)
set -euo pipefail
bodycam=$(realpath "$1") records=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
cameras=${SCALE_CAMERAS:-50}
shift_length=${SCALE_SHIFT:-1h}
work=${SCALE_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/bodycam-scale.XXXXXX")}
mkdir -p "$work"
chmod 755 "$work"   # PostgreSQL runs as the postgres user when we are root: it must reach its folder
pg_port=${SCALE_PG_PORT:-55432}
s3_port=${SCALE_S3_PORT:-57480}
node_pids=()

log() { printf '[test-scale %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cleanup() {
  status=$?
  for p in "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$here/ceph.sh" stop "$work/ceph" >/dev/null 2>&1 || true
  "$here/postgres.sh" stop "$work/pg" >/dev/null 2>&1 || true
  if [ $status -ne 0 ]; then
    log "FAILED (status $status); logs in $work"
    for f in "$work"/node*.err; do [ -s "$f" ] && { echo "--- $f (last lines)"; tail -20 "$f"; }; done >&2
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "PostgreSQL on 127.0.0.1:$pg_port"
pg_url=$("$here/postgres.sh" start "$work/pg" "$pg_port")
export BODYCAM_CATALOG_PASSWORD_FILE="$work/pg/password"
log "Ceph (mon, osd, radosgw) with the S3 gateway on 127.0.0.1:$s3_port"
t0=$(date +%s)
"$here/ceph.sh" start "$work/ceph" "$s3_port" >&2
log "Ceph answered S3 after $(( $(date +%s) - t0 )) s"
# shellcheck disable=SC1091
. "$work/ceph/env"   # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
blobs="s3://bodycam-evidence?endpoint=http://127.0.0.1:$s3_port"

if [ "${SKIP_UNIT:-0}" != 1 ]; then
  log "PostgreSQL and S3 tests (RecordsScaleTests) against them"
  BODYCAM_TEST_POSTGRES="$pg_url" BODYCAM_CATALOG_PASSWORD=$(cat "$work/pg/password") \
    BODYCAM_TEST_S3="s3://bodycam-tests?endpoint=http://127.0.0.1:$s3_port" \
    swift test --filter RecordsScaleTests 2>&1 | tee "$work/unit.log" | grep -E '✘|✔ Suite|Test run|error:' >&2
  grep -q 'Test run with .* passed' "$work/unit.log" || { log "RecordsScaleTests failed"; exit 1; }
  if grep -q 'skipped' "$work/unit.log"; then log "some RecordsScaleTests were skipped though the servers are up"; grep skipped "$work/unit.log" >&2; exit 1; fi
fi

# Two ingest nodes: each its own data folder (the service key, uploads in progress), one catalogue, one store.
store=(--catalog "$pg_url" --blobs "$blobs")
"$records" key --data "$work/node1" "${store[@]}" > /dev/null
mkdir -p "$work/node2" && cp "$work/node1/service.key" "$work/node2/service.key"
"$records" user add fleet --role admin --data "$work/node1" "${store[@]}" > "$work/admin-token"

started_port=""
start_node() {  # N [port]: sets started_port (not a $(...) subshell: the pid must stay in node_pids)
  local n=$1 port=${2:-0}
  : > "$work/node$n.log"
  "$records" serve --data "$work/node$n" "${store[@]}" --listen "127.0.0.1:$port" --retention-every 0 \
    >> "$work/node$n.log" 2>> "$work/node$n.err" &
  node_pids[$n]=$!
  for _ in $(seq 1 300); do
    p=$(sed -n 's/.*"listening".*"port":\([0-9]*\).*/\1/p' "$work/node$n.log" | head -1)
    if [ -n "$p" ]; then started_port=$p; return 0; fi
    kill -0 "${node_pids[$n]}" 2>/dev/null || { log "node $n did not start"; return 1; }
    sleep 0.1
  done
  return 1
}
start_node 1; port1=$started_port
start_node 2; port2=$started_port
log "ingest nodes on :$port1 and :$port2"

# The same recording through two nodes at once: a camera's storage copied (same key, same recording),
# both copies docking at the same moment, one at each node. It must be catalogued once and stored once.
log "twins: one recording sent through both nodes at once"
twin=TWIN$(date +%H%M%S)
mkdir -p "$work/twin"
token=$("$records" enrol "$twin" --data "$work/node1" "${store[@]}" | tail -1)
printf 'wait 3s\ndock\nwait 2s\nundock\nwait 3s\ndouble record\nwait 40s\nhold record 3s\nwait 2s\nquit\n' |
  "$bodycam" run --storage "$work/twin/a" --device-id "$twin" --size 320x240 --fps 10 --records "http://127.0.0.1:$port1" \
    --enrol-token "$token" --utc-start 2026-06-01T08:00:00Z > "$work/twin/record.log"
cp -a "$work/twin/a" "$work/twin/b"
# One version of every blob, seen through boto3 (the bucket is versioned, as Object Lock needs): nothing was
# stored twice. $1 is the log's lead.
one_version_per_blob() {
  python3 - "$s3_port" "$1" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
versions = {}
for page in s3.get_paginator("list_object_versions").paginate(Bucket="bodycam-evidence", Prefix="blobs/"):
    for v in page.get("Versions", []):
        versions[v["Key"]] = versions.get(v["Key"], 0) + 1
twice = {k: n for k, n in versions.items() if n > 1}
assert not twice, f"blobs stored more than once: {twice}"
print(f"[test-scale] {sys.argv[2]}: {len(versions)} blobs in the bucket, each stored once", file=sys.stderr)
PY
}

twin_dock() {  # COPY PORT ATTEMPT
  printf 'dock\nwait 10m\nstatus\nquit\n' | "$bodycam" run --storage "$work/twin/$1" --device-id "$twin" --size 320x240 --fps 10 \
    --records "http://127.0.0.1:$2" --utc-start "2026-06-01T1$3:00:00Z" --offload-rate 10000000000 > "$work/twin/$1-dock$3.log" 2>&1
}
twin_dock a "$port1" 1 & ta=$!
twin_dock b "$port2" 1 & tb=$!
wait $ta; wait $tb
# A copy refused because the other held the file at that moment keeps its recording; it docks again.
for c in a b; do
  grep -q '"local_recordings":0' "$work/twin/$c-dock1.log" || twin_dock "$c" "$port1" 2
done
python3 - "$work/twin" <<'PY'
import glob, json, sys
for c in "ab":
    logs = sorted(glob.glob(f"{sys.argv[1]}/{c}-dock*.log"))
    status = [json.loads(l) for l in open(logs[-1]) if '"event":"status"' in l][-1]
    assert status["local_recordings"] == 0, f"twin {c} still holds its recording: {status}"
PY
one_version_per_blob "twins: both copies hold nothing"
rows=$("$records" recordings --device "$twin" --json --data "$work/node1" "${store[@]}" | grep -c '"recording_id"')
[ "$rows" -eq 1 ] || { log "twins: $rows catalogue rows for one recording"; exit 1; }

# The retention job from both nodes at once, 40 days on: the twins' recording (the only one yet) deleted once, logged once.
# Compliance-mode Object Lock keeps the bytes until their retain-until date: the tombstones stand and the
# purge is retried later (exit 1 says so), which is what a compliance lock is for.
later=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
log "retention from both nodes at once, as of $later"
"$records" retention --now "$later" --json --data "$work/node1" "${store[@]}" > "$work/retention1.json" 2> "$work/retention1.err" & r1=$!
"$records" retention --now "$later" --json --data "$work/node2" "${store[@]}" > "$work/retention2.json" 2> "$work/retention2.err" & r2=$!
wait $r1 || true; wait $r2 || true
"$records" custody --json --data "$work/node1" "${store[@]}" > "$work/custody.jsonl"
python3 - "$work/custody.jsonl" <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
deletes = {}
for e in entries:
    if e["action"] == "delete":
        deletes[e["recording_id"]] = deletes.get(e["recording_id"], 0) + 1
twice = {k: n for k, n in deletes.items() if n != 1}
expected = 1
assert not twice, f"recordings deleted more than once: {twice}"
assert len(deletes) >= expected, f"{len(deletes)} deletions, expected every one of the {expected} recordings (all expired)"
print(f"[test-scale] retention from two nodes: {len(deletes)} recordings deleted, each logged once", file=sys.stderr)
PY

log "custody: the chain checks after the deletion"
"$records" custody --data "$work/node1" "${store[@]}" > /dev/null

log "fleet: $cameras cameras, a $shift_length shift, docking through both nodes"
BODYCAM_ADMIN_TOKEN=$(cat "$work/admin-token") "$bodycam" fleet --cameras "$cameras" --shift "$shift_length" \
  --records "http://127.0.0.1:$port1,http://127.0.0.1:$port2" --dock-window 20 --tag "S$(date +%H%M%S)" \
  --work "$work/fleet" --json > "$work/fleet.json" 2> "$work/fleet.err" &
fleet=$!
until grep -q dock-storm "$work/fleet.err" 2>/dev/null; do
  kill -0 $fleet 2>/dev/null || break
  sleep 0.2
done
grep -q dock-storm "$work/fleet.err" || { log "the fleet ended before its dock storm"; cat "$work/fleet.err" >&2; exit 1; }
sleep 4
log "dock storm: killing node 2 (SIGKILL)"
kill -9 "${node_pids[2]}"; wait "${node_pids[2]}" 2>/dev/null || true
sleep 2
log "dock storm: restarting the S3 gateway"
"$here/ceph.sh" restart-gateway "$work/ceph" >&2
sleep 3
log "node 2 back on :$port2"
start_node 2 "$port2"
status=0
wait $fleet || status=$?
cat "$work/fleet.json"
python3 - "$work/fleet.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["check"]
print(f"[test-scale] fleet: {r['recordings']} recordings, {r['receipts']} receipts, {r['redocks']} re-docks, "
      f"{r['bytes_delivered']/1e6:.1f} MB in {r['storm_s']:.1f} s, latency p50 {r['latency_s']['p50']:.2f} s "
      f"p99 {r['latency_s']['p99']:.2f} s max {r['latency_s']['max']:.2f} s", file=sys.stderr)
assert c["passed"], f"cross-check failed: {c}"
assert r["recordings"] >= 50 and r["receipts"] == r["recordings"], "not every recording got a receipt"
assert not c["deleted_without_receipt"], c["deleted_without_receipt"]
PY
[ $status -eq 0 ] || { log "bodycam fleet exited with $status"; exit 1; }

# The gateway was restarted during uploads: still one version of every blob (a retried PUT must not store twice).
one_version_per_blob "after the storm"

log "verify-store: every live blob re-hashed from the gateway, every manifest and receipt checked"
"$records" verify-store --data "$work/node1" "${store[@]}" > "$work/verify-store.txt" || { tail -20 "$work/verify-store.txt" >&2; exit 1; }
log "custody: the chain written by both nodes checks"
"$records" custody --data "$work/node1" "${store[@]}" > "$work/custody.txt" || { tail -5 "$work/custody.txt" >&2; exit 1; }
log "PASS"
