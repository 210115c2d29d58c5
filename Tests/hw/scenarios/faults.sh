# Faults injected mid-recording through vivid's own controls: damaged buffers, dropped buffers, a
# sequence wrap, a fatal streaming error, a disconnect (with a failing STREAMON on the way back).
cat > /tmp/faults.script <<'END'
wait 3s
trigger taser
wait 12s
trigger holster
wait 8s
trigger lightbar
wait 6s
hold record 3s
wait 1s
quit
END
bodycam run --camera /dev/video0 --size 320x180 --fps 30 --prerecord 2s --segment-duration 4s \
    --storage /tmp/faults --records /tmp/faults-records --script /tmp/faults.script > /out/faults.events &
cam=$!
ctl() { v4l2-ctl -d /dev/video0 -c "$1" && echo "$(date +%s) set $1" || echo "$(date +%s) could not set $1"; }
sleep 5;  ctl inject_v4l2_buf_flag_error=1
sleep 1;  ctl percentage_of_dropped_buffers=25
sleep 2;  ctl percentage_of_dropped_buffers=0
sleep 1;  ctl wrap_sequence_number=1
sleep 2;  ctl inject_fatal_streaming_error=1
sleep 6;  ctl inject_vidioc_streamon_error=1
          ctl disconnect=1
wait $cam
status=$?
cp -r /tmp/faults /out/faults-storage
exit $status
