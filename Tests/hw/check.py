#!/usr/bin/env python3
"""Checks on the host what the test VM recorded from the vivid camera: every segment with ffprobe and
ffmpeg, frame counts against the driver's rate, continuous sequence numbers, `bodycam verify`, and the
events each scenario must produce. Usage: check.py OUT_FOLDER BODYCAM_BINARY"""
import glob, json, os, subprocess, sys

out, bodycam = sys.argv[1], sys.argv[2]
failures = []
passed = 0

def check(condition, message):
    global passed
    print(("ok    " if condition else "FAIL  ") + message)
    if condition:
        passed += 1
    else:
        failures.append(message)

def events(name):
    path = os.path.join(out, name + ".events")
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.startswith("{")]

def segments(name):
    return sorted(glob.glob(os.path.join(out, name + "-storage", "recordings", "*.avi")))

def probe(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                        "stream=codec_name,width,height,r_frame_rate,nb_read_frames", "-of", "json", path],
                       capture_output=True, text=True)
    return json.loads(r.stdout)["streams"][0] if r.returncode == 0 else None

def decode_errors(path):
    r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-f", "null", "-"], capture_output=True, text=True)
    return r.stderr.strip() if r.returncode == 0 else "exit %d %s" % (r.returncode, r.stderr)

def frame_stamps(path):
    r = subprocess.run([bodycam, "inspect", "--frames", path], capture_output=True, text=True)
    return json.loads(r.stdout)["stamps"] if r.returncode == 0 else []

def stamps(path):
    return [s["seq"] for s in frame_stamps(path)]

def duration(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                       capture_output=True, text=True)
    try:
        return float(r.stdout.strip())
    except ValueError:
        return -1.0

def common(name, recordings):
    log = open(os.path.join(out, name + ".log")).read() if os.path.exists(os.path.join(out, name + ".log")) else ""
    check("exit 0" in log, f"{name}: bodycam exited cleanly in the VM")
    ev = events(name)
    camera = next((e for e in ev if e["event"] == "camera"), {})
    check(camera.get("source") == "/dev/video0" and camera.get("clock") == "real", f"{name}: ran on /dev/video0 in real time")
    finalized = [e for e in ev if e["event"] == "recording" and e.get("action") == "finalized"]
    check(len(finalized) == recordings, f"{name}: {len(finalized)} recording(s) finalized, expected {recordings}")
    segs = segments(name)
    check(len(segs) > 0, f"{name}: {len(segs)} segment(s) came back")
    by_recording = {}
    for path in segs:
        p = probe(path)
        base = os.path.basename(path)
        check(p is not None and p["codec_name"] == "mjpeg" and (p["width"], p["height"]) == (320, 180)
              and p["r_frame_rate"] == "30/1", f"{name}: {base} is MJPEG 320x180 at 30/1")
        errors = decode_errors(path)
        check(errors == "", f"{name}: {base} decodes with no error" + ("" if errors == "" else ": " + errors[:200]))
        st = frame_stamps(path)
        by_recording.setdefault(base.split("_")[1], []).extend(s["seq"] for s in st)
        # Real time: the file plays for as long as its frames span, whatever the driver delivered
        # (frames that never came are empty chunks in the timeline).
        # Never shorter than the span by more than a frame interval (no time squeezed out); longer only by
        # frames the driver delivered early, in bursts (kept, never dropped: each takes its own interval).
        if st:
            span = st[-1]["mono"] - st[0]["mono"] + 1 / 30
            plays = duration(path)
            early = sum(1 for a, b in zip(st, st[1:]) if b["mono"] - a["mono"] < 0.5 / 30)
            check(-1 / 30 - 1e-3 <= plays - span <= (1 + early) / 30 + 1e-3,
                  f"{name}: {base} plays {plays:.3f} s, its frames span {span:.3f} s ({early} early frame(s))")
    for rec, seqs in by_recording.items():
        check(seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else False,
              f"{name}: {rec} has {len(seqs)} frames with continuous sequence numbers")
    storage = os.path.join(out, name + "-storage")
    # Trust the camera's key as enrolment would record it, never the device.json beside the evidence.
    key = subprocess.run([bodycam, "key", storage], capture_output=True, text=True).stdout
    keys = os.path.join(out, name + ".trusted-keys")
    open(keys, "w").write(key)
    v = subprocess.run([bodycam, "verify", storage, "--trusted-keys", keys], capture_output=True, text=True)
    check(v.returncode == 0, f"{name}: bodycam verify: " + v.stdout.strip().splitlines()[-1] if v.stdout else "no output")
    return ev, finalized, by_recording

device = open(os.path.join(out, "device.txt")).read() if os.path.exists(os.path.join(out, "device.txt")) else ""
check("Driver name      : vivid" in device or "vivid" in device, "the VM's /dev/video0 is the vivid driver")

ev, finalized, by_recording = common("basic", 1)
# Trigger at 4 s with 2 s of pre-record, stopped by the hold at 13 s: about 11 s at 30 fps.
frames = sum(len(s) for s in by_recording.values())
check(300 <= frames <= 360, f"basic: {frames} frames for about 11 s at 30 fps")
started = next((e for e in ev if e["event"] == "recording" and e.get("action") == "started"), {})
camera = next((e for e in ev if e["event"] == "camera"), {})
# The VM has 2 CPUs: the default is 2 encoder workers, holding vivid's buffers until their frames are encoded.
check(camera.get("encoders") == 2, f"basic: {camera.get('encoders')} encoder workers on the VM's 2 CPUs")
check(abs(started.get("prerecord_s", 0) - 2.0) < 0.2, f"basic: the recording starts with {started.get('prerecord_s')} s of pre-record")

ev, finalized, by_recording = common("faults", 3)
alerts = [e["kind"] for e in ev if e["event"] == "alert"]
check(alerts.count("camera-lost") >= 2, f"faults: camera lost {alerts.count('camera-lost')} times (fatal error, disconnect)")
check(alerts.count("camera-back") >= 2, f"faults: camera back {alerts.count('camera-back')} times (reopened)")
stopped = [e.get("cause") for e in ev if e["event"] == "recording" and e.get("action") == "stopped"]
check(stopped.count("camera-lost") == 2, f"faults: recordings finalized by the losses: {stopped}")
stats = [e for e in ev if e["event"] == "stats"][-1:] or [{}]
check(stats[0].get("dropped_damaged", 0) >= 1, f"faults: {stats[0].get('dropped_damaged')} damaged buffer(s) dropped and counted")
check(stats[0].get("dropped_by_source", 0) >= 1, f"faults: {stats[0].get('dropped_by_source')} frame(s) the driver dropped, counted")
check(all(f.get("complete") for f in finalized), "faults: every recording was finalized complete")
skipped = sum(f.get("source_skipped_frames", 0) for f in finalized)
check(skipped >= 1, f"faults: the recordings count {skipped} frame(s) the driver skipped while they ran")

# The live view (--http) on vivid: a snapshot any decoder reads, with the burnt-in stamp's dark box at the
# top left (the 5x7 text at scale 1 from (4,4) at 320x180) over vivid's colour bars (its own text overlay
# switched off), which are bright there and at the bottom left where no stamp is drawn.
log = open(os.path.join(out, "live.log")).read() if os.path.exists(os.path.join(out, "live.log")) else ""
check("exit 0" in log, f"live: bodycam --http exited cleanly in the VM ({log.strip()[-120:]})")
ev = events("live")
check(any(e["event"] == "http" and e.get("action") == "listening" for e in ev), "live: the live view listened on loopback")
snap = os.path.join(out, "live-snapshot.jpg")
p = probe(snap) if os.path.exists(snap) else None
check(p is not None and p.get("codec_name") == "mjpeg" and p.get("width") == 320 and p.get("height") == 180,
      f"live: the snapshot is a 320x180 JPEG ffprobe reads ({p})")
if p is not None:
    gray = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", snap, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          capture_output=True).stdout
    def region(x0, x1, y0, y1):
        return [gray[y * 320 + x] for y in range(y0, y1) for x in range(x0, x1)] if len(gray) == 320 * 180 else [0]
    stamp, below = region(6, 60, 6, 30), region(6, 60, 150, 175)
    dark = sum(1 for v in stamp if v < 60) / len(stamp)
    bright = sum(1 for v in stamp if v > 180)
    check(dark > 0.5 and bright > 20, f"live: the time stamp's box is on the picture ({dark:.0%} dark, {bright} text pixels)")
    check(sum(below) / len(below) > 100, f"live: the picture under it is bright (mean {sum(below) / len(below):.0f}): the box is the stamp")
try:
    status = json.load(open(os.path.join(out, "live-status.json")))
except (OSError, ValueError):
    status = {}
check(status.get("live_frames_published", 0) >= 1 and status.get("frames_captured", 0) >= 1,
      f"live: status.json counts frames captured and published to viewers ({status.get('frames_captured')}, {status.get('live_frames_published')})")

print("test-hw: %d passed, %d failed" % (passed, len(failures)))
sys.exit(1 if failures else 0)
