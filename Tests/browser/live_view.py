#!/usr/bin/env python3
"""The live view in a real browser: headless Chromium, driven through chromedriver's W3C WebDriver HTTP
API with nothing but the standard library (no Selenium, no PyPI).

Starts `bodycam run --http 127.0.0.1:0` on synthetic frames (stdin held open), opens the page, checks the
live picture changes, clicks the record button twice (a double press), waits for the page to say
"recording" and for a recording file in storage, keeps a screenshot, then quits through stdin and
expects exit 0.

    python3 Tests/browser/live_view.py .build/release/bodycam
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


class Failure(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """The few W3C WebDriver commands the test needs, over urllib."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise Failure(f"WebDriver {method} {path}: {e.code} {e.read()[:500]!r}")

    def wait_ready(self, seconds=30):
        end = time.time() + seconds
        while time.time() < end:
            try:
                if self.call("GET", "/status", timeout=2).get("ready"):
                    return
            except (OSError, Failure):
                pass
            time.sleep(0.2)
        raise Failure("chromedriver did not become ready")

    def start(self):
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1024,768",
                         "--disable-dev-shm-usage"],
            },
        }}}
        value = self.call("POST", "/session", caps, timeout=90)
        self.session = value["sessionId"]

    def s(self, path):
        return f"/session/{self.session}{path}"

    def open(self, url):
        self.call("POST", self.s("/url"), {"url": url})

    def find(self, css):
        return self.call("POST", self.s("/element"), {"using": "css selector", "value": css})[ELEMENT]

    def text(self, css):
        return self.call("GET", self.s(f"/element/{self.find(css)}/text"))

    def click(self, element):
        self.call("POST", self.s(f"/element/{element}/click"), {})

    def script(self, source, *args):
        return self.call("POST", self.s("/execute/sync"), {"script": source, "args": list(args)})

    def element_png(self, element):
        return base64.b64decode(self.call("GET", self.s(f"/element/{element}/screenshot")))

    def page_png(self):
        return base64.b64decode(self.call("GET", self.s("/screenshot")))

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", self.s(""), timeout=10)
            except (OSError, Failure):
                pass
            self.session = None


def wait_for(what, condition, seconds, page=None):
    end = time.time() + seconds
    while time.time() < end:
        if condition():
            return
        time.sleep(0.1)
    raise Failure(f"{what} (after {seconds} s)" + (f"; the page showed: {page()}" if page else ""))


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build/release/bodycam"))
    for tool in (binary, CHROMIUM, CHROMEDRIVER):
        if not os.access(tool, os.X_OK):
            raise Failure(f"{tool} is missing (make test installs chromium and chromium-driver)")
    out_dir = os.path.join(ROOT, ".build/browser")
    os.makedirs(out_dir, exist_ok=True)
    storage = tempfile.mkdtemp(prefix="bodycam-browser-")
    stderr = open(os.path.join(out_dir, "bodycam.stderr"), "wb")
    camera = driver_proc = None
    driver = None
    events = []
    try:
        camera = subprocess.Popen([binary, "run", "--http", "127.0.0.1:0", "-o", storage, "-s", "320x240", "-r", "15",
                                   "--records", os.path.join(storage, "records")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        listening = threading.Event()
        url = []

        def read_events():  # keeps stdout drained for the whole run
            for raw in camera.stdout:
                try:
                    e = json.loads(raw)
                except ValueError:
                    continue
                events.append(e)
                if e.get("event") == "http" and e.get("action") == "listening":
                    url.append(e["url"])
                    listening.set()

        threading.Thread(target=read_events, daemon=True).start()
        if not listening.wait(60):
            raise Failure(f"no listening event from bodycam (exit {camera.poll()}); events: {events[-5:]}")
        page_url = url[0]
        print(f"live view at {page_url}")

        port = free_port()
        # Its own process group: chromium and its helpers go with it on failure.
        driver_proc = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                                       stderr=open(os.path.join(out_dir, "chromedriver.log"), "wb"), start_new_session=True)
        driver = WebDriver(port)
        driver.wait_ready()
        driver.start()
        driver.open(page_url)

        def shown():
            try:
                return {"state": driver.text("#state"), "error": driver.text("#control-error"),
                        "connection": driver.text("#connection"), "events": driver.text("#events")[:400]}
            except Failure as e:
                return str(e)

        picture = driver.find("#picture")
        wait_for("the live picture to load", lambda: (driver.script(
            "return document.getElementById('picture').naturalWidth") or 0) > 0, 30, shown)
        wait_for("the camera to be ready", lambda: driver.text("#state").lower() == "ready", 30, shown)
        first = driver.element_png(picture)
        wait_for("the live picture to change", lambda: driver.element_png(picture) != first, 10, shown)

        record = driver.find("#btn-record")
        driver.click(record)
        driver.click(record)
        wait_for("the page to show the state 'recording'", lambda: driver.text("#state").lower() == "recording", 15, shown)
        recordings = os.path.join(storage, "recordings")
        wait_for("a recording file in storage",
                 lambda: any(n.endswith((".avi", ".part")) for n in os.listdir(recordings)), 15, shown)
        time.sleep(1)  # a second of recording time on the page
        png = driver.page_png()
        shot = os.path.join(out_dir, "live-view.png")
        with open(shot, "wb") as f:
            f.write(png)
        # The README's picture changes only when asked: `make test` leaves the checkout as it was.
        if os.environ.get("UPDATE_SCREENSHOT") == "1":
            os.makedirs(os.path.join(ROOT, "docs/screenshots"), exist_ok=True)
            shutil.copyfile(shot, os.path.join(ROOT, "docs/screenshots/live-view.png"))
        print(f"screenshot: {shot}")
        driver.quit()

        camera.stdin.write(b"quit\n")
        camera.stdin.flush()
        try:
            status = camera.wait(60)
        except subprocess.TimeoutExpired:
            raise Failure("bodycam did not exit within 60 s of quit")
        if status != 0:
            raise Failure(f"bodycam exited {status}")
        started = [e for e in events if e.get("event") == "recording" and e.get("action") == "started"]
        if not started:
            raise Failure("no recording started event on stdout")
        print("live view in the browser: ok")
    finally:
        if driver:
            driver.quit()
        if driver_proc:
            try:
                os.killpg(driver_proc.pid, 9)
            except ProcessLookupError:
                pass
            driver_proc.wait()
        if camera and camera.poll() is None:
            camera.kill()
            camera.wait()
        shutil.rmtree(storage, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"live view browser test FAILED: {e}", file=sys.stderr)
        sys.exit(1)
