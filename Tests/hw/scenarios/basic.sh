# Ready with a pre-record buffer, a triggered recording that rotates segments, a 3 s hold to stop it.
cat > /tmp/basic.script <<'END'
wait 4s
trigger holster
wait 6s
hold record 3s
wait 1s
quit
END
bodycam run --camera /dev/video0 --size 320x180 --fps 30 --prerecord 2s --segment-duration 4s \
    --storage /tmp/basic --records /tmp/basic-records --script /tmp/basic.script > /out/basic.events
status=$?
cp -r /tmp/basic /out/basic-storage
exit $status
