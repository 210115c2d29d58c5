#!/usr/bin/env python3
"""`make test-hw` started from a terminal stops on Ctrl-C, QEMU included (it used to take the terminal's
input in raw mode and run on). Runs make on a pseudo-terminal, types Ctrl-C once QEMU is up, and checks that
QEMU and make are gone. Usage: interrupt.py (from the repository root; make test-hw-interrupt)."""
import os, pty, select, subprocess, sys, time

def qemu_running():
    return subprocess.run(["pgrep", "-f", "qemu-system-x86_64 -accel"], capture_output=True).returncode == 0

if qemu_running():
    sys.exit("interrupt: a QEMU of make test-hw is already running")
pid, fd = pty.fork()
if pid == 0:
    os.execvp("make", ["make", "--no-print-directory", "test-hw"])

def drain(seconds):
    # The terminal's output must be read, or make blocks writing to it.
    end = time.time() + seconds
    while time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                if not os.read(fd, 65536):
                    return
            except OSError:
                return

deadline = time.time() + 900
while time.time() < deadline and not qemu_running():
    drain(0.5)
if not qemu_running():
    sys.exit("interrupt: QEMU never started")
drain(3)
os.write(fd, b"\x03")  # Ctrl-C at the terminal
stopped = time.time() + 30
while time.time() < stopped and qemu_running():
    drain(0.2)
alive = qemu_running()
if alive:
    subprocess.run(["pkill", "-f", "qemu-system-x86_64 -accel"])
drain(2)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
if alive:
    sys.exit("interrupt: FAIL: QEMU still ran 30 s after Ctrl-C")
if code == 0:
    sys.exit("interrupt: FAIL: make test-hw went on to succeed after Ctrl-C")
print("interrupt: ok: Ctrl-C stopped QEMU and make test-hw (make exit %d)" % code)
