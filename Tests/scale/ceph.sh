#!/bin/bash
# A single-node Ceph (mon, osd, radosgw; mgr only with CEPH_MGR=1) on 127.0.0.1 for the S3 blob store tests,
# started by hand: no systemd, no cephadm, every file under DIR. The recipe is ../shared/docs/records-stack.md.
#
#   ceph.sh start DIR PORT        S3 on http://127.0.0.1:PORT (the monitor on PORT+1); writes DIR/credentials
#                                 (AWS INI) and DIR/env (export lines for the tests)
#   ceph.sh stop DIR              stops rgw, osd, mgr, mon in that order (idempotent, also after a failed start)
#   ceph.sh restart-gateway DIR   stops and starts radosgw, waits until it answers
# The OSD is a sparse file of CEPH_OSD_GB GiB (10 by default). A full OSD does not refuse writes: the
# gateway holds them until space is freed, so size it for everything a run writes (make bench-scale: 40).
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR | restart-gateway DIR" >&2; exit 2; }
die() { echo "ceph.sh: $*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
    local missing=()
    for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "ceph.sh: installing ceph-mon ceph-mgr ceph-osd radosgw (missing: ${missing[*]})" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y ceph-mon ceph-mgr ceph-osd radosgw >&2 \
        || { as_root apt-get update >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y ceph-mon ceph-mgr ceph-osd radosgw >&2; }
}

# Waits up to $2 seconds for command $1 (a function name) to succeed.
wait_for() {
    local what=$1 limit=$2 i=0
    while ! "$what"; do
        i=$((i + 1))
        [ $i -ge $((limit * 4)) ] && return 1
        sleep 0.25
    done
}

# Stops one daemon by its pid file: TERM, then KILL after 20 s. A missing or stale pid file is fine.
stop_daemon() {
    local pidfile=$1 pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

cmd=${1:-}; DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || usage
case "$cmd" in start|stop|restart-gateway) ;; *) usage ;; esac
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF=$DIR/ceph.conf
ADMIN=(-c "$CONF" -n client.admin -k "$DIR/admin.keyring")

s3_answers() {
    local port; port=$(cat "$DIR/port")
    # Any HTTP status (403 for an anonymous request) means the gateway is serving.
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" || true)" != "000" ]
}

start_gateway() {
    radosgw -c "$CONF" -n client.rgw.a
    wait_for s3_answers 60 || die "radosgw did not answer on port $(cat "$DIR/port") within 60 s (see $DIR/log/client.rgw.a.log)"
}

stop_all() {
    stop_daemon "$DIR/run/client.rgw.a.pid"
    stop_daemon "$DIR/run/osd.0.pid"
    stop_daemon "$DIR/run/mgr.x.pid"
    stop_daemon "$DIR/run/mon.a.pid"
}

case "$cmd" in
stop)
    stop_all
    exit 0
    ;;
restart-gateway)
    [ -f "$CONF" ] || die "$DIR holds no cluster (start it first)"
    stop_daemon "$DIR/run/client.rgw.a.pid"
    start_gateway
    exit 0
    ;;
esac

PORT=${3:-}
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1024 ] && [ "$PORT" -le 65534 ] || usage
MON_PORT=$((PORT + 1))
started=$(date +%s.%N)
install_packages

# A start after a failed or finished one begins from nothing: stop what runs, drop the old state.
stop_all
rm -rf "$DIR/mon" "$DIR/osd" "$DIR/mgr" "$DIR/rgw" "$DIR/run" "$DIR/log" "$DIR"/*.keyring "$DIR/monmap" "$CONF" "$DIR/credentials" "$DIR/env"
mkdir -p "$DIR/mon/a" "$DIR/osd/0" "$DIR/rgw" "$DIR/run" "$DIR/log"
echo "$PORT" > "$DIR/port"
# If anything below fails, leave no daemon running.
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "ceph.sh: start failed; stopping what was started (logs in $DIR/log)" >&2; stop_all; fi' EXIT

FSID=$(uuidgen)
# Each daemon section names its keyring: otherwise a daemon looks in the wrong place and silently runs without cephx.
cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon host = v1:127.0.0.1:$MON_PORT
mon initial members = a
ms bind msgr2 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $DIR/run
log file = $DIR/log/\$name.log
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd objectstore = bluestore
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728

[mon.a]
mon data = $DIR/mon/a
keyring = \$mon_data/keyring

[mgr.x]
mgr data = $DIR/mgr
keyring = $DIR/mgr.keyring

[osd.0]
osd data = $DIR/osd/0
keyring = \$osd_data/keyring
bluestore block path = $DIR/osd/0.block
bluestore block create = true
bluestore block size = $(( ${CEPH_OSD_GB:-10} << 30 ))

[client.admin]
keyring = $DIR/admin.keyring

[client.rgw.a]
keyring = $DIR/rgw.keyring
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw enable usage log = false
EOF

ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$DIR/admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$DIR/mon.keyring" --import-keyring "$DIR/admin.keyring" >/dev/null
monmaptool --create --addv a "[v1:127.0.0.1:$MON_PORT]" --fsid "$FSID" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring"
ceph-mon -c "$CONF" -i a

if [ "${CEPH_MGR:-0}" = 1 ]; then
    mkdir -p "$DIR/mgr"
    ceph "${ADMIN[@]}" auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$DIR/mgr.keyring"
    ceph-mgr -c "$CONF" -i x
fi

# The OSD's key must exist before its mkfs (with --mkkey, mkfs fails "failed to fetch mon config").
OSD_UUID=$(uuidgen)
OSD_ID=$(ceph "${ADMIN[@]}" osd new "$OSD_UUID")
[ "$OSD_ID" = 0 ] || die "expected osd.0, the monitor gave osd.$OSD_ID"
ceph "${ADMIN[@]}" auth get-or-create osd.0 mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' \
    -o "$DIR/osd/0/keyring"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$DIR/log/osd-mkfs.log" 2>&1 \
    || die "ceph-osd --mkfs failed (see $DIR/log/osd-mkfs.log)"
ceph-osd -c "$CONF" -i 0
osd_up() { ceph "${ADMIN[@]}" osd dump 2>/dev/null | grep -q '^osd.0 up'; }
wait_for osd_up 60 || die "osd.0 not up within 60 s (see $DIR/log/osd.0.log)"

ceph "${ADMIN[@]}" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' -o "$DIR/rgw.keyring"
start_gateway

ACCESS_KEY=BODYCAM$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
SECRET_KEY=$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n' | head -c 40)
radosgw-admin -c "$CONF" -n client.admin user create --uid=bodycam --display-name="bodycam tests" \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
cat > "$DIR/credentials" <<EOF
[default]
aws_access_key_id = $ACCESS_KEY
aws_secret_access_key = $SECRET_KEY
EOF
chmod 600 "$DIR/credentials"
cat > "$DIR/env" <<EOF
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export BODYCAM_TEST_S3='s3://bodycam-test?endpoint=http://127.0.0.1:$PORT'
export BODYCAM_TEST_CEPH_DIR='$DIR'
export BODYCAM_TEST_CEPH_SCRIPT='$(cd "$(dirname "$0")" && pwd)/$(basename "$0")'
EOF
chmod 600 "$DIR/env"
trap - EXIT
echo "ceph.sh: S3 on http://127.0.0.1:$PORT in $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $started }") s (source $DIR/env)"
