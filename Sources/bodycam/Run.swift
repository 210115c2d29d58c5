import ArgumentParser
import Foundation
import BodycamCore
import BodycamTerminal
import BodycamLiveView
#if canImport(Glibc)
import Glibc
import BodycamEvidence
#endif

/// Set by SIGINT/SIGTERM; the runtime checks it after every frame, every real-clock sleep slice and while
/// waiting for a script line, then finalizes every recording and exits.
nonisolated(unsafe) var stopSignal: sig_atomic_t = 0

/// SIGINT/SIGTERM ask for a clean stop; a second SIGINT exits at once (status 130), leaving `.part` files
/// that the next boot recovers. Installed first thing, so a signal during boot is never the default kill.
func installStopHandlers() {
    signal(SIGINT) { _ in
        if stopSignal != 0 {
            // The prompt's terminal settings go back first (async-signal-safe), or the shell is left
            // without echo.
            TerminalMode.restore()
            _exit(130)
        }
        stopSignal = 1
    }
    signal(SIGTERM) { _ in stopSignal = 1 }
    signal(SIGPIPE, SIG_IGN)
    // A parent may have started us with these blocked (the mask is inherited): they must get through.
    var stops = sigset_t()
    sigemptyset(&stops)
    sigaddset(&stops, SIGINT)
    sigaddset(&stops, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &stops, nil)
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the camera.",
        discussion: """
        Without a camera, frames come from the synthetic source on a virtual clock: time runs as fast as \
        the machine can go and the same options give the same recordings, byte for byte.
        Control it with commands on stdin (or --script FILE), one a line; events come out on stdout: \
        as JSON Lines, or, when stdout is a terminal (and not --json), as plain English under a live \
        status line, with a prompt when stdin is that terminal (type help).
        Example: printf "wait 40s\\ndouble record\\nwait 10s\\nhold record 3s\\nquit\\n" | bodycam run
        With -t/--duration the run ends that long after power-on, in camera time, as `wait` then `quit` \
        would: the end of input no longer ends it (the camera runs on to that time), and a script still going \
        then is stopped there (nothing due at or after it happens). `quit` and Ctrl-C still end it sooner. \
        On the virtual clock that takes as long as the machine needs; on the real clock, that long.
        Example: bodycam run -t 10m -s 640x480 -r 15 -o /tmp/cam < /dev/null
        With --config FILE the options come from a TOML file too, its keys the long option names without the \
        dashes (size = "640x480", fps = 15, prerecord = "30s", strict = true); options on the command line \
        override it. Example: Fixtures/bodycam.toml.
        """
    )

    // Read and removed before parsing (ConfigFile.expanding, in Bodycam.main): declared for --help and the man page.
    @Option(help: ArgumentHelp("Read options from this TOML file: keys are the long option names without the dashes (fps = 15, size = \"640x480\"); a flag is true (given) or false (not given); a relative path in it is taken from the file's folder; options on the command line override it. Unknown keys and wrong types are errors.", valueName: "file"))
    var config: String?

    @Option(name: [.short, .long], help: "Frame size, WIDTHxHEIGHT in pixels (even, 16 to 8192).")
    var size = SizeOption(argument: "1280x720")!
    @Option(name: [.customShort("r"), .long], help: "Frames per second, 1 to 240.") var fps = 30
    @Option(name: [.customShort("t"), .long], help: ArgumentHelp(
        "Run this long in camera time (e.g. 10s, 2m, 8h), then quit (see above).", valueName: "duration"))
    var duration: DurationOption?
    @Option(help: "JPEG quality, 1 to 100.") var quality = 85
    @Option(help: ArgumentHelp("Encoder workers for raw frames, 1 to 32 (default: the cores this process may run on; 1: the capture thread encodes). Recordings are the same, byte for byte, whatever the number. MJPEG passthrough needs none.", valueName: "n"))
    var encoders: Int?
    @Option(help: "Synthetic frame format: yuyv or i420 (encoded by the HAL), or mjpeg (passthrough).")
    var format: PixelFormat = .yuyv
    @Option(help: "Pre-record length, 0s to 120s.") var prerecord = DurationOption(argument: "30s")!
    @Option(help: "Byte bound of the pre-record buffer (default: derived from size, fps, quality, pre-record).")
    var prerecordBytes: Int?
    @Option(help: "Longest segment before the recording continues in a new file.")
    var segmentDuration = DurationOption(argument: "5m")!
    @Option(help: "Largest segment file in bytes, 1 MiB to 1 GiB.") var segmentBytes = 512 << 20
    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Storage folder of the device.", valueName: "folder"))
    var storage = "storage"
    @Option(help: "Make the open segment durable this often (camera time); a power cut loses at most this much.")
    var syncInterval = DurationOption(argument: "1s")!
    @Option(help: "Burn a time stamp (date and time, device id, officer when assigned) into every raw frame before it is encoded: on or off (for bench comparisons). MJPEG passthrough frames are not redrawn: they carry it in their metadata stamp only.")
    var overlay: OverlaySwitch = .on
    @Option(help: "Clock of the burnt-in time: utc, or local (the machine's time zone, TZ, shown with its offset).")
    var overlayTime: OverlayTime = .utc
    @Option(help: "Seed of the synthetic source.") var seed: UInt64 = 1
    @Option(help: "Device id stamped into every frame.") var deviceId = "BWV-0001"
    @Option(help: "UTC at start, YYYY-MM-DDTHH:MM:SSZ, or 'now' (default: the machine's clock on the real clock; 2026-01-01T08:00:00Z on the virtual clock, fixed so reruns are identical). Never before the last time recorded on this storage.")
    var utcStart: String?
    @Option(help: "Sensor noise of synthetic frames, 0-64 (0 compresses unrealistically well).") var noise = 6
    @Option(help: ArgumentHelp("Serve the live view and control page: PORT (on 127.0.0.1) or ADDRESS:PORT (0: any free port; the URL is in the `http` event). Real clock; the end of input does not end the run. Any address but loopback lets everyone who can reach it watch and press buttons.", valueName: "[address:]port"))
    var http: String?
    @Option(help: "virtual: time moves only by script commands, as fast as the machine goes (reruns are identical); real: wall-clock time; auto: real when a person types at a terminal, else virtual.")
    var clock: ClockChoice = .auto

    @OptionGroup(title: "Device behaviour") var device: DeviceOptions

    @Option(help: "A V4L2 camera (/dev/videoN), 'auto' (the first camera if there is one, else synthetic frames), or 'none' for synthetic frames. A camera sets the size, rate and format it negotiates, and the real clock.")
    var camera = "none"
    @Option(help: "Camera pixel format to ask for: mjpeg, yuyv, i420 or nv12 (default: the best the camera offers).")
    var cameraFormat: PixelFormat?
    @Option(help: "Replay this file instead of a camera: raw frames of --size (see --source-format) or concatenated JPEGs.")
    var source: String?
    @Option(help: "Format of --source: yuyv, i420, nv12 or mjpeg.") var sourceFormat: PixelFormat = .yuyv

    @Option(help: "Read the control script from this file instead of stdin.") var script: String?
    @Flag(help: "JSON Lines on stdout even on a terminal (pipes and files always get them).")
    var json = false
    @Flag(help: "Exit non-zero (after finalizing files) if any script line was bad or any expect failed.")
    var strict = false
    @Option(help: "Battery level at start, percent, 0 to 100.") var battery = 100
    @Option(help: "Storage the camera may fill, in bytes (default: the file system's free space, at most 64 GiB).")
    var storageCapacity: Int64?
    @Option(help: "Emit a stats event this often (camera time); 0s for only at the end.")
    var statsEvery = DurationOption(argument: "5m")!
    @Option(help: ArgumentHelp("Central records the dock offloads to: a records service (https://HOST:PORT, or http:// on loopback; see bodycam-records) or a folder (default: $XDG_DATA_HOME/bodycam/records, or ~/.local/share/bodycam/records).", valueName: "url-or-folder"))
    var records: String?
    @Option(help: "One-time enrolment token from `bodycam-records enrol DEVICE-ID`: presented at the first dock to a records service.")
    var enrolToken: String?
    @Option(help: ArgumentHelp("CA certificates (PEM) the records service's TLS certificate must chain to (default: the system's store).", valueName: "file"))
    var recordsCa: String?
    @Option(help: "Dock transfer rate, bytes per second of camera time, 1 to 10000000000.") var offloadRate: Int64 = 40_000_000
    @Option(help: "The dock's clock minus the camera's, e.g. 2.5s or -1s: corrected on docking.")
    var dockClockOffset = "0s"

    func settings() throws -> CameraSettings {
        var s = CameraSettings()
        s.width = size.width
        s.height = size.height
        s.fps = fps
        s.quality = quality
        s.encoders = encoders ?? min(ProcessStats.availableCores, CameraSettings.maxEncoders)
        s.format = format
        s.preRecord = prerecord.nanos
        s.arenaBytes = prerecordBytes
        s.segmentDuration = segmentDuration.nanos
        s.segmentBytes = segmentBytes
        s.storage = storage
        s.seed = seed
        s.deviceID = deviceId
        s.noise = noise
        s.syncInterval = syncInterval.nanos
        s.overlay = overlay == .on
        s.overlayTime = overlayTime
        if utcStart == nil || utcStart == "now" {
            s.utcStart = nil // chosen in run() once the clock is known
        } else if let utcStart {
            guard let t = UTC.parse(utcStart) else {
                throw ValidationError("--utc-start '\(utcStart.prefix(40))': UTC as YYYY-MM-DDTHH:MM:SSZ, or 'now'")
            }
            s.utcStart = t
        }
        let problems = s.problems()
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
        return s
    }

    /// Checks of the options that need no camera (run at parse time, so a mistake is reported before
    /// anything starts).
    func validate() throws {
        _ = try settings()
        _ = try device.config()
        guard (0...100).contains(battery) else { throw ValidationError("--battery \(battery): battery level at start, percent, 0 to 100") }
        guard dockClockOffsetNanos != nil else {
            throw ValidationError("--dock-clock-offset '\(dockClockOffset.prefix(40))': a duration, e.g. 2.5s or -1s (--dock-clock-offset=-1s)")
        }
        guard (1...10_000_000_000).contains(offloadRate) else {
            throw ValidationError("--offload-rate \(offloadRate): bytes per second of camera time, 1 to 10000000000 (10 GB/s)")
        }
        if recordsCa != nil && !(records ?? "").hasPrefix("https://") {
            throw ValidationError("--records-ca: only with an https:// records service (--records https://HOST:PORT)")
        }
        if let duration, duration.nanos <= 0 {
            throw ValidationError("--duration \(duration): camera time to run, more than 0 (e.g. 10s, 2m, 8h)")
        }
        if let http {
            if case .failure(let e) = LiveViewAddress.parse(http) { throw ValidationError("--http \(e.message)") }
            if clock == .virtual { throw ValidationError("--http needs the real clock: a live picture on the virtual clock makes no sense (drop --clock virtual)") }
        }
        if format == .nv12 {
            throw ValidationError("--format nv12: synthetic frames are yuyv, i420 or mjpeg (nv12 comes from --camera or --source)")
        }
    }

    /// `--dock-clock-offset` in nanoseconds (negative: the dock is behind), nil if it is not a duration.
    var dockClockOffsetNanos: Nanos? {
        let magnitude = DurationText.parse(String(dockClockOffset.drop { $0 == "-" || $0 == "+" }))
        return dockClockOffset.hasPrefix("-") ? magnitude.map { -$0 } : magnitude
    }

    func run() throws {
        installStopHandlers()
        let requested = try settings()
        let deviceConfig = try device.config()
        let inputFD: Int32
        if let script {
            inputFD = open(script, O_RDONLY | O_CLOEXEC)
            var info = stat()
            // A folder opens, but reading it fails: say so now, not as an unexplained empty script.
            let problem = inputFD < 0 ? errno : fstat(inputFD, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR ? EISDIR : 0
            guard problem == 0 else {
                if inputFD >= 0 { close(inputFD) }
                throw ValidationError("--script \(script): cannot read the script: \(String(cString: strerror(problem)))")
            }
        } else {
            inputFD = STDIN_FILENO
        }
        let person = script == nil && isatty(STDIN_FILENO) == 1
        var settings = requested
        var cameraPath: String? = camera == "none" ? nil : camera
        if camera == "auto" {
            cameraPath = V4L2Catalog.nodes().first { path in
                guard case .success(let fd) = HALV4L2().open(path) else { return false }
                defer { HALV4L2().close(fd) }
                if case .success(let c) = HALV4L2().capabilities(fd) { return c.canCapture && c.canStream }
                return false
            }
            diagnostic(cameraPath.map { "using the camera \($0)" } ?? "no camera found: using synthetic frames")
        }
        // A live camera runs on real time; synthetic frames on the virtual clock unless asked otherwise.
        let realTime = cameraPath != nil || clock == .real || (clock == .auto && (person || http != nil))
        let cameraClock: CameraClock = realTime ? MonotonicClock() : VirtualClock()
        // A fixed start keeps virtual-clock reruns byte-identical; a real clock follows the machine's.
        if utcStart == nil && !realTime { settings.utcStart = CameraSettings.virtualClockStart }
        var frameSource: FrameSource?
        if let file = source {
            do {
                frameSource = try FileSource(path: file, format: sourceFormat, width: requested.width, height: requested.height,
                                             fps: requested.fps, clock: cameraClock)
                settings.format = sourceFormat
            } catch {
                diagnostic("\(error)")
                throw ExitCode(2)
            }
        } else if let cameraPath {
            do {
                let request = V4L2Source.Request(width: requested.width, height: requested.height, fps: requested.fps,
                                                 format: cameraFormat)
                // Buffers for the frames the encoders hold, and the one looked at while they are busy.
                let v = try V4L2Source(path: cameraPath, request: request, clock: cameraClock,
                                       framesOut: settings.encoders > 1 ? settings.encoders + 2 : 1)
                settings.width = v.geometry.width
                settings.height = v.geometry.height
                settings.fps = v.fps
                settings.format = v.geometry.format
                diagnostic("\(cameraPath): \(v.capabilities.card), \(v.geometry.format.rawValue) \(v.geometry.width)x\(v.geometry.height) at \(v.fps) fps")
                frameSource = v
            } catch {
                diagnostic("\(error)")
                throw ExitCode(2)
            }
        }
        // A person at a terminal gets plain English, a status line and (typing there) a prompt; anything
        // else gets JSON Lines, byte for byte as always.
        let console = !json && isatty(STDOUT_FILENO) == 1
            ? TerminalConsole(outputFD: STDOUT_FILENO, keyboardFD: person ? STDIN_FILENO : nil) : nil
        // Every way out (the end, a thrown error) prints what is queued and gives the terminal back.
        defer { console?.finish() }
        // From here on the console owns the terminal: messages go through it so they never tear its footer.
        func tell(_ message: String) {
            if let console { console.say("bodycam: " + message) } else { diagnostic(message) }
        }
        let sink: EventSink = console.map { ConsoleEventSink(console: $0) } ?? JSONLinesSink()
        // --http: bound before the camera starts (a port in use ends the run before anything is recorded).
        var live: LiveViewSetup?
        if let http, case .success(let address) = LiveViewAddress.parse(http) {
            do { live = try LiveViewSetup.start(address, settings: settings, events: sink) } catch {
                tell("--http \(http): \(error.description)")
                throw ExitCode(2)
            }
        }
        defer { live?.stop() }
        let camera: CameraRuntime
        do {
            camera = try CameraRuntime(settings: settings, clock: cameraClock, events: live?.events ?? sink, source: frameSource)
        } catch {
            tell(error.description)
            throw ExitCode(2)
        }
        let s = settings

        let capacity = storageCapacity ?? min(PosixFile.freeBytes(s.storage) ?? 0, 64 << 30)
        camera.emit("camera", [
            ("device", .string(s.deviceID)), ("width", .int(Int64(s.width))), ("height", .int(Int64(s.height))),
            ("fps", .int(Int64(s.fps))), ("format", .string(s.format.rawValue)), ("quality", .int(Int64(s.quality))),
            ("prerecord_s", .double(Double(s.preRecord) / 1e9)),
            ("prerecord_bytes", .int(Int64(camera.recorder.settings.arenaBytes))),
            ("frame_slots", .int(Int64(camera.recorder.settings.frameCapacity))),
            ("clock", .string(cameraClock.isVirtual ? "virtual" : "real")),
            ("source", .string(source ?? cameraPath ?? "synthetic")),
            ("storage", .string(s.storage)),
            ("overlay", .string(s.overlay ? s.overlayTime.rawValue : "off")),
            ("encoders", .int(Int64(camera.path.encoderWorkers))),
            ("encoder_bytes", .int(Int64(camera.path.encoderSlotBytes))),
        ])
        live?.attach(to: camera)
        let r = camera.recovery
        if !r.isEmpty {
            camera.emit("recovery", [("segments_rebuilt", .array(r.segmentsRebuilt.map { .string($0) })),
                                     ("manifests_written", .array(r.manifestsWritten.map { .string($0) })),
                                     ("manifests_logged", .array(r.manifestsLogged.map { .string($0) })),
                                     ("empty_segments_removed", .array(r.emptySegmentsRemoved.map { .string($0) })),
                                     ("quarantined", .array(r.quarantined.map {
                                         .object([("file", .string($0.file)), ("moved_to", .string($0.movedTo)), ("reason", .string($0.reason))])
                                     })),
                                     ("frames_recovered", .int(Int64(r.framesRecovered)))])
        }
        for a in camera.boot.alerts { camera.emit("alert", [("kind", .string(a.kind)), ("message", .string(a.message))]) }
        if person && console?.scriptFD != nil {
            tell("camera on (\(realTime ? "real" : "virtual") clock). Type help for the commands; quit or Ctrl-D ends, Ctrl-C stops.")
        } else if person {
            tell("camera on (\(realTime ? "real" : "virtual") clock); type commands: double record, hold record 3s, press function, status, quit ...")
        }
        let target: RecordsTarget
        if let url = records, url.contains("://") {
            do {
                target = try RecordsService(url: url, identity: camera.identity, stateDirectory: camera.settings.stateDirectory,
                                            enrolToken: enrolToken, caFile: recordsCa, utcNow: camera.utcNow / 1_000_000)
            } catch {
                // The camera's threads are running: stop them before the process unwinds (its objects go while
                // the writer still used them: a crash in about one run in four, seen with a mistyped URL).
                camera.shutdown()
                tell(error.message)
                throw ExitCode(2)
            }
        } else {
            target = RecordsFolder(root: records ?? Self.defaultRecords())
        }
        let dock = DeviceRuntime.Dock(target: target, bytesPerSecond: offloadRate, clockOffset: dockClockOffsetNanos ?? 0)
        let runtime = DeviceRuntime(camera: camera, config: deviceConfig, batteryPercent: battery,
                                    storageCapacity: capacity, statsEvery: statsEvery.nanos, dock: dock,
                                    liveStatus: live?.status ?? LiveStatusBoard())
        if let console {
            // The status line shows the offload (bytes, rate, time left); no bar on stderr.
            console.watch(runtime.liveStatus)
        } else if isatty(STDERR_FILENO) == 1 {
            runtime.progressBar = Self.drawProgress
        }
        // With a prompt, the lines typed come through the console's pipe. With --http the page may still
        // send commands when piped input ends, so the run goes on; Ctrl-D at the prompt still ends it.
        let runner = ScriptRunner(device: runtime, reader: LineReader(fd: console?.scriptFD ?? inputFD), stop: { stopSignal != 0 },
                                  duration: duration?.nanos, remote: live?.control,
                                  runsPastEndOfInput: live != nil && !(person && console != nil))
        runner.run()
        if strict && runner.failures > 0 {
            tell("\(runner.failures) script error(s) or failed expectation(s)")
            throw ExitCode(1)
        }
    }
}

extension Run {
    static func defaultRecords() -> String {
        let env = ProcessInfo.processInfo.environment
        if let xdg = env["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/bodycam/records" }
        return (env["HOME"] ?? ".") + "/.local/share/bodycam/records"
    }

    /// `offload [#########.........]  45%  3/7 files` on stderr, redrawn in place.
    static func drawProgress(_ p: Offloader.Progress) {
        let fraction = p.bytesTotal > 0 ? Double(p.bytesDone) / Double(p.bytesTotal) : 1
        let filled = Int(fraction * 30)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
        var line = "\roffload [\(bar)] \(Int(fraction * 100))%  \(p.filesDone)/\(p.filesTotal) files  \(p.recordingsDone)/\(p.recordingsTotal) recordings"
        if p.filesDone == p.filesTotal { line += "\n" }
        line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}

enum OverlaySwitch: String, ExpressibleByArgument { case on, off }

enum ClockChoice: String, ExpressibleByArgument {
    case auto, virtual, real
}
