/// The live page: one self-contained HTML document (no external scripts, styles or fonts: it works on a
/// machine without internet and loads nothing from anywhere else). It shows the stream, the status from
/// the event stream, and the camera's buttons: a button here is held exactly as long as the mouse (or
/// finger) is down on it (`down`/`up`), so a click is a press, two quick clicks a double press and a long
/// press a hold, as on the device; the R, F and P keys do the same for record, function and power.
enum LivePage {
    static func html(deviceID: String) -> String {
        let id = escape(deviceID)
        return #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>\#(id) live view</title>
<style>
  :root { color-scheme: dark; font-family: system-ui, sans-serif; }
  body { margin: 0; background: #111; color: #eee; }
  header { display: flex; align-items: center; gap: 1em; padding: .5em 1em; background: #222; }
  header h1 { font-size: 1.1em; margin: 0; }
  #connection { font-size: .85em; color: #aaa; }
  main { display: grid; grid-template-columns: minmax(0, 2fr) minmax(16em, 1fr); gap: 1em; padding: 1em; }
  #picture { width: 100%; background: #000; border: 1px solid #333; display: block; min-height: 120px; }
  .panel { background: #1b1b1b; border: 1px solid #333; border-radius: 6px; padding: .7em; margin-bottom: 1em; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .25em 1em; margin: 0; }
  dt { color: #999; } dd { margin: 0; font-variant-numeric: tabular-nums; }
  #state { font-weight: bold; text-transform: uppercase; }
  #state.recording { color: #f44; }
  .led { display: inline-block; width: .9em; height: .9em; border-radius: 50%; background: #444; vertical-align: middle; margin-right: .4em; }
  .led.green, .led.green-blink { background: #2d2; } .led.red-blink { background: #f22; }
  .led.amber, .led.amber-solid, .led.amber-slow { background: #fa0; }
  .led.green-blink, .led.red-blink { animation: blink 1s steps(1) infinite; }
  .led.amber-slow { animation: blink 3s steps(1) infinite; }
  @keyframes blink { 50% { opacity: .15; } }
  .buttons { display: flex; flex-wrap: wrap; gap: .4em; margin-bottom: .6em; }
  button { font: inherit; padding: .5em .8em; border-radius: 5px; border: 1px solid #555; background: #2a2a2a; color: #eee; cursor: pointer; touch-action: none; user-select: none; }
  button:hover { background: #333; } button.held { background: #555; border-color: #aaa; }
  button.device { font-weight: bold; min-width: 6em; } #btn-record { border-color: #a33; }
  #control-error { color: #f88; min-height: 1.2em; font-size: .9em; }
  #events { list-style: none; margin: 0; padding: 0; max-height: 22em; overflow-y: auto; font: .8em ui-monospace, monospace; }
  #events li { padding: .15em 0; border-bottom: 1px solid #222; word-break: break-all; }
  #events .type { color: #8cf; }
  small { color: #888; }
</style>
</head>
<body>
<header><h1>\#(id)</h1><span id="connection">connecting…</span></header>
<main>
  <section>
    <img id="picture" src="/stream.mjpg" alt="the camera's live picture">
    <p><small>Stream: <a href="/stream.mjpg">/stream.mjpg</a> (VLC, ffplay) · <a href="/snapshot.jpg">snapshot.jpg</a> · <a href="/status.json">status.json</a></small></p>
  </section>
  <section>
    <div class="panel">
      <dl>
        <dt>state</dt><dd><span id="led" class="led off" title="LED"></span><span id="state">…</span> <span id="stealth"></span></dd>
        <dt>LED</dt><dd id="led-text">…</dd>
        <dt>battery</dt><dd id="battery">…</dd>
        <dt>recording</dt><dd id="rec-time">–</dd>
        <dt>storage free</dt><dd id="storage">…</dd>
        <dt>officer</dt><dd id="officer">–</dd>
        <dt>camera</dt><dd id="camera">…</dd>
        <dt>frames</dt><dd id="frames">…</dd>
        <dt>live view</dt><dd id="live-counters">…</dd>
      </dl>
    </div>
    <div class="panel">
      <div class="buttons">
        <button class="device" id="btn-record" data-button="record" title="R key">record</button>
        <button class="device" id="btn-function" data-button="function" title="F key">function</button>
        <button class="device" id="btn-power" data-button="power" title="P key">power</button>
      </div>
      <div class="buttons">
        <button id="btn-double-record" data-command="double record">double-press record</button>
        <button id="btn-hold-record" data-command="hold record 3s">hold record 3 s</button>
        <button id="btn-press-function" data-command="press function">press function</button>
        <button id="btn-hold-function" data-command="hold function 3s">hold function 3 s</button>
        <button id="btn-hold-power" data-command="hold power 3s">hold power 3 s</button>
      </div>
      <div class="buttons">
        <button id="btn-trigger-holster" data-command="trigger holster">trigger holster</button>
        <button id="btn-trigger-taser" data-command="trigger taser">trigger taser</button>
        <button id="btn-dock" data-command="dock">dock</button>
        <button id="btn-undock" data-command="undock">undock</button>
        <button id="btn-status" data-command="status">status</button>
        <button id="btn-quit" data-command="quit" data-confirm="Stop the camera? (recordings are finalized)">quit</button>
      </div>
      <div id="control-error"></div>
      <small>Buttons are held as long as you hold them: click = press, two quick clicks = double press, hold 3 s = hold. Keys R, F, P.</small>
    </div>
    <div class="panel"><ul id="events"></ul></div>
  </section>
</main>
<script>
"use strict";
const $ = id => document.getElementById(id);
// Commands go one at a time, in order: a release can never overtake its press.
const queue = [];
let sending = false;
function send(command) {
  queue.push(command);
  if (!sending) pump();
}
async function pump() {
  sending = true;
  while (queue.length) {
    const command = queue.shift();
    try {
      const r = await fetch("/control", { method: "POST", headers: { "Content-Type": "text/plain" }, body: command });
      if (!r.ok) {
        const body = await r.json().catch(() => ({ error: r.statusText }));
        $("control-error").textContent = command + ": " + body.error;
      } else {
        $("control-error").textContent = "";
      }
    } catch (e) {
      $("control-error").textContent = command + ": " + e;
    }
  }
  sending = false;
}

// The device's buttons: down on pointerdown, up on release, like the real button.
for (const el of document.querySelectorAll("button[data-button]")) {
  const button = el.dataset.button;
  let down = false;
  el.addEventListener("pointerdown", e => {
    if (e.button !== 0 || down) return;
    down = true;
    el.classList.add("held");
    send("down " + button);
  });
  const release = () => {
    if (!down) return;
    down = false;
    el.classList.remove("held");
    send("up " + button);
  };
  el.addEventListener("pointerup", release);
  el.addEventListener("pointercancel", release);
  el.addEventListener("pointerleave", release);
}
for (const el of document.querySelectorAll("button[data-command]")) {
  el.addEventListener("click", () => {
    if (el.dataset.confirm && !confirm(el.dataset.confirm)) return;
    send(el.dataset.command);
  });
}
const keys = { r: "record", f: "function", p: "power" };
const keysDown = new Set();
document.addEventListener("keydown", e => {
  const b = keys[e.key.toLowerCase()];
  if (!b || e.repeat || e.ctrlKey || e.metaKey || e.altKey || keysDown.has(b)) return;
  keysDown.add(b);
  $("btn-" + b).classList.add("held");
  send("down " + b);
});
document.addEventListener("keyup", e => {
  const b = keys[e.key.toLowerCase()];
  if (!b || !keysDown.has(b)) return;
  keysDown.delete(b);
  $("btn-" + b).classList.remove("held");
  send("up " + b);
});

function bytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  return Math.round(n / 1024) + " KiB";
}
function clock(s) {
  const t = Math.floor(s), h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, sec = t % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(sec).padStart(2, "0");
}
function showStatus(s) {
  $("state").textContent = s.state;
  $("state").className = s.state;
  $("stealth").textContent = s.stealth ? "(stealth)" : "";
  $("led").className = "led " + s.led;
  $("led-text").textContent = s.led;
  $("battery").textContent = s.battery + " %" + (s.charging ? " (charging)" : "");
  $("rec-time").textContent = s.recording_s == null ? "–" : clock(s.recording_s) + " " + (s.recording_id || "");
  $("storage").textContent = bytes(s.storage_free) + " of " + bytes(s.storage_capacity);
  $("officer").textContent = s.officer || "–";
  $("camera").textContent = s.camera;
  $("frames").textContent = s.frames_captured + " captured, " + s.frames_dropped + " dropped";
  $("live-counters").textContent = s.live_frames_published + " published, " + s.live_frames_skipped + " skipped (busy), " +
    s.live_viewer_frames_skipped + " skipped by viewers, " + s.live_viewers + " viewer(s)";
}
function addEvent(e) {
  const li = document.createElement("li");
  const rest = Object.assign({}, e);
  delete rest.event; delete rest.t; delete rest.utc;
  const type = document.createElement("span");
  type.className = "type";
  type.textContent = e.event;
  li.append((e.t != null ? e.t.toFixed(3) + " " : ""), type, " " + JSON.stringify(rest));
  const list = $("events");
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
}
const events = new EventSource("/events");
events.onopen = () => { $("connection").textContent = "live"; };
events.onerror = () => { $("connection").textContent = "disconnected (retrying)"; };
events.onmessage = m => {
  const e = JSON.parse(m.data);
  if (e.event === "live-status") showStatus(e); else addEvent(e);
};
// A stream refused (all viewer slots taken) or cut: try again in a moment.
$("picture").addEventListener("error", () => {
  setTimeout(() => { $("picture").src = "/stream.mjpg?" + Date.now(); }, 2000);
});
</script>
</body>
</html>
"""#
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
