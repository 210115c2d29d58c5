# bodycam: the front door. `make run` and `make test` install what they need on Debian/Ubuntu.
SWIFT      ?= swift
BIN        := .build/release/bodycam
# libjpeg (HAL encoder), libv4l (HAL capture), ffmpeg (independent media checks), djpeg/tjbench.
APT_PACKAGES := pkg-config libjpeg62-turbo-dev libjpeg-turbo-progs libv4l-dev ffmpeg
# `make run ARGS="..."` passes options to `bodycam run`.
ARGS       ?=

.PHONY: all deps build run test test-powercut clean

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

build: deps
	$(SWIFT) build -c release --product bodycam

# The simulated camera on synthetic frames, commands from the terminal. Recordings go to ./storage.
run: build
	$(BIN) run $(ARGS)

# Unit tests (debug build) plus end-to-end tests that drive the release binary.
test: build
	BODYCAM_BIN=$(CURDIR)/$(BIN) $(SWIFT) test

# The power-cut test with many more kills (make test runs 50).
test-powercut: build
	BODYCAM_BIN=$(CURDIR)/$(BIN) BODYCAM_POWERCUT_KILLS=$${KILLS:-500} $(SWIFT) test --filter PowerCutTests

clean:
	rm -rf .build storage
