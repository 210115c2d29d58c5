# bodycam: the front door. `make run` and `make test` install what they need on Debian/Ubuntu.
SWIFT      ?= swift
BIN        := .build/release/bodycam
RECORDS_BIN := .build/release/bodycam-records
# The records service's data folder for `make records` (catalogue, custody log, evidence blobs, service key).
RECORDS_DATA ?= records-data
# libjpeg (HAL encoder), libv4l (HAL capture), ffmpeg (independent media checks), djpeg/tjbench, libssl (HAL
# TLS client of the dock link; openssl makes the tests' certificates).
APT_PACKAGES := pkg-config libjpeg62-turbo-dev libjpeg-turbo-progs libv4l-dev ffmpeg libsqlite3-dev libssl-dev openssl
# Extra packages for the real-driver test: QEMU boots Debian's kernel, whose vivid module is a webcam;
# procps: pgrep for the Ctrl-C check.
HW_PACKAGES := qemu-system-x86 busybox-static v4l-utils procps
HW_DIR     := .build-hw
# Peers for `make bench`.
BENCH_PACKAGES := libturbojpeg0 gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good util-linux openssl
# `make test-scale`: PostgreSQL, and Ceph's monitor, OSD and S3 gateway (RADOS Gateway), started by hand on loopback.
SCALE_PACKAGES := postgresql ceph-mon ceph-mgr ceph-osd radosgw python3-boto3 s3cmd
# The live view's browser test (`make test`): headless Chromium and its WebDriver. Not needed by `make run`.
BROWSER_PACKAGES := chromium chromium-driver
# `make run ARGS="..."` passes options to `bodycam run`, after `--camera auto` (a later --camera wins), so
# `make run ARGS="--http 127.0.0.1:8080"` still uses the webcam.
ARGS       ?=

.PHONY: fleet test-scale bench-scale scale-deps all deps hw-deps browser-deps test-browser build build-records records run test test-hw test-hw-interrupt test-powercut bench fuzz man clean

all: build

# Installs missing Debian packages (apt-get; through sudo when not root). Quiet when all are present.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift not found: install a Swift 6 toolchain (swift.org) and put it on PATH"; exit 1; }

hw-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(APT_PACKAGES) $(HW_PACKAGES)"

scale-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(APT_PACKAGES) $(SCALE_PACKAGES)"

browser-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(APT_PACKAGES) $(BROWSER_PACKAGES)"

build: deps
	$(SWIFT) build -c release --product bodycam

build-records: deps
	$(SWIFT) build -c release --product bodycam-records

# The force's records service on loopback, embedded default (SQLite and a folder in $(RECORDS_DATA)).
# Cameras dock into it with `make run ARGS="--records http://127.0.0.1:8640 --enrol-token TOKEN"`.
records: build-records
	$(RECORDS_BIN) serve --data $(RECORDS_DATA)

# The simulated camera on synthetic frames, commands from the terminal. Recordings go to ./storage.
run: build
	$(BIN) run --camera auto $(ARGS)

# A fleet of simulated cameras through a shift and a dock storm against a records service on loopback
# (the embedded default: SQLite and a folder, in a new temporary folder). FLEET_ARGS go to `bodycam fleet`.
FLEET_ARGS ?= --cameras 20 --shift 2h
fleet: build build-records
	Tests/scale/fleet-local.sh $(BIN) $(RECORDS_BIN) $(FLEET_ARGS)

# The records service at force scale: PostgreSQL and Ceph's S3 gateway on loopback, their tests, two ingest
# nodes and a fleet of 50 cameras; one node killed and the gateway restarted during the dock storm.
# The nodes run the debug build `make test` has made already (building the service again for release would
# add minutes to CI for no different behaviour); `make bench-scale` measures the release build.
test-scale: scale-deps build
	$(SWIFT) build --product bodycam-records
	Tests/scale/test-scale.sh $(BIN) .build/debug/bodycam-records

# Unit tests (debug build) plus end-to-end tests that drive the release binary, then the live view in
# headless Chromium (its screenshot in .build/browser/live-view.png).
test: build browser-deps
	BODYCAM_BIN=$(CURDIR)/$(BIN) $(SWIFT) test
	python3 Tests/browser/live_view.py $(CURDIR)/$(BIN)

# The browser test alone.
test-browser: build browser-deps
	python3 Tests/browser/live_view.py $(CURDIR)/$(BIN)

# The real V4L2 driver: builds a VM from Debian packages (kernel, vivid, busybox), records from vivid's
# /dev/video0 inside it with faults injected through vivid's controls, and checks the files on the host.
test-hw: hw-deps build
	Tests/hw/build-image.sh $(HW_DIR) $(CURDIR)/$(BIN)
	rm -rf $(HW_DIR)/out && mkdir -p $(HW_DIR)/out
	@# The guest's console goes to a file and QEMU never touches the terminal (no -nographic: it would take
	@# stdin in raw mode, so Ctrl-C never reached it, and stop a backgrounded make on SIGTTIN); --foreground
	@# keeps QEMU in the terminal's process group, so Ctrl-C stops it with make.
	timeout --foreground 600 qemu-system-x86_64 -accel tcg -cpu max -m 1536 -smp 2 -display none -monitor none -no-reboot \
	    -serial file:$(HW_DIR)/console.log -kernel $(HW_DIR)/vmlinuz -initrd $(HW_DIR)/initrd.gz \
	    -append "console=ttyS0 panic=-1 quiet" \
	    -virtfs local,path=$(CURDIR)/$(HW_DIR)/out,mount_tag=out,security_model=none < /dev/null > $(HW_DIR)/qemu.log 2>&1 \
	    || { tail -n 30 $(HW_DIR)/console.log $(HW_DIR)/qemu.log; exit 1; }
	python3 Tests/hw/check.py $(HW_DIR)/out $(CURDIR)/$(BIN)

# Ctrl-C at the terminal stops `make test-hw`, QEMU included (run on a pseudo-terminal).
test-hw-interrupt: hw-deps build
	python3 Tests/hw/interrupt.py

# bodycam (1 encoder worker on one core, and --encoders per core on all cores) against GStreamer, FFmpeg,
# tjbench and cp on the same noisy footage, in turns; the largest size recorded in real time; allocations,
# memory, simulation speed, ingest. Writes bench/results.md and throughput.svg (about 25 minutes on 2 cores).
# QUICK=1 for a short run (about 5 minutes), written to bench/results-quick.md (git-ignored) so the committed
# figures stay those of a full run; OUT=FILE.md writes FILE.md and FILE.svg instead. Not part of `make test`.
# Needs quiet cores: other work on the machine shows up in every figure (the header gives the load average).
bench: build build-records
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(APT_PACKAGES) $(BENCH_PACKAGES)"
	python3 bench/bench.py $(CURDIR)/$(BIN) $(if $(QUICK),--quick,) $(if $(OUT),--out $(OUT),)
	@$(MAKE) --no-print-directory bench-scale

# The records at scale (PostgreSQL and Ceph's S3 gateway on loopback): our S3 client against boto3 and s3cmd,
# and a fleet of 200 cameras x 8 h docking through two nodes. bench/results-scale.md (QUICK=1: a smaller fleet).
bench-scale: scale-deps build build-records
	python3 bench/scale.py $(CURDIR)/$(BIN) $(CURDIR)/$(RECORDS_BIN) $(if $(QUICK),--quick,)

# The man pages docs/man/bodycam.1 and bodycam-records.1 (committed), from the commands' own help by
# swift-argument-parser's generate-manual plugin (it builds the package in debug, then reads each product's
# --experimental-dump-help). Dated by the last commit, so rerunning it changes nothing unless the help did.
# `ManPageTests` (in `make test`) fails when a page does not name every option: run this after changing one.
man: deps
	$(SWIFT) package plugin generate-manual --configuration debug --date $$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
	mkdir -p docs/man
	cp .build/plugins/GenerateManual/outputs/bodycam/bodycam.1 docs/man/bodycam.1
	cp .build/plugins/GenerateManual/outputs/bodycam-records/bodycam-records.1 docs/man/bodycam-records.1

# Coverage-guided fuzzing (libFuzzer + ASan), FUZZ_SECONDS per target (default 600): the last word of the
# recipe is the list of targets (Fuzz/Targets.swift). Builds in .build-fuzz; crashes go to .build-fuzz/crashes.
fuzz: deps
	SWIFT=$(SWIFT) Fuzz/run.sh $(or $(FUZZ_SECONDS),600) avi-reader avi-repair frame-stamp utc script-line manifest audit-trail evidence-files records-wire

# The power-cut test with many more kills (make test runs 50).
test-powercut: build
	BODYCAM_BIN=$(CURDIR)/$(BIN) BODYCAM_POWERCUT_KILLS=$${KILLS:-500} $(SWIFT) test --filter PowerCutTests

# Build products only: no make target deletes recordings (./storage is the device's evidence).
clean:
	rm -rf .build
