# The live view on a real driver: `--http` serves vivid's picture, with the time stamp burnt in, while the
# camera runs; a snapshot and the status are fetched inside the VM (busybox wget on loopback).
ifconfig lo 127.0.0.1 up
# vivid's own text overlay off (2: none), so the only text box on the picture is the camera's stamp.
v4l2-ctl -d /dev/video0 -c osd_text_mode=2
bodycam run --camera /dev/video0 --size 320x180 --fps 30 --http 127.0.0.1:8080 -t 15s \
    --storage /tmp/live --records /tmp/live-records < /dev/null > /out/live.events &
pid=$!
got=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    sleep 1
    if wget -q -O /out/live-snapshot.jpg http://127.0.0.1:8080/snapshot.jpg; then got=1; break; fi
done
# The status is published every 100 ms of camera time: fetched a while after the first frame, it counts them.
sleep 2
wget -q -O /out/live-status.json http://127.0.0.1:8080/status.json || echo "no status.json"
wait $pid
status=$?
[ $got = 1 ] || { echo "no snapshot from the live view"; exit 1; }
exit $status
