import ArgumentParser
import BodycamCore
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT/SIGTERM; the capture loop checks it once a frame and shuts down in order.
nonisolated(unsafe) var stopSignal: sig_atomic_t = 0

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the camera.",
        discussion: """
        Without a camera, frames come from the synthetic source on a virtual clock: time runs as fast as \
        the machine can go and the same options give the same recordings, byte for byte.
        Example: bodycam run --record-after 40s --record-for 10s
        """
    )

    @Option(help: "Frame size, WIDTHxHEIGHT (even, 16 to 8192).") var size = SizeOption(argument: "1280x720")!
    @Option(help: "Frames per second (1-240).") var fps = 30
    @Option(help: "JPEG quality (1-100).") var quality = 85
    @Option(help: "Synthetic frame format: yuyv or i420 (encoded by the HAL), or mjpeg (passthrough).")
    var format: PixelFormat = .yuyv
    @Option(help: "Pre-record length, 0s to 120s.") var prerecord = DurationOption(argument: "30s")!
    @Option(help: "Byte bound of the pre-record buffer (default: derived from size, fps, quality, pre-record).")
    var prerecordBytes: Int?
    @Option(help: "Longest segment before the recording continues in a new file.")
    var segmentDuration = DurationOption(argument: "5m")!
    @Option(help: "Largest segment file in bytes (at most 1 GiB).") var segmentBytes = 512 << 20
    @Option(help: "Storage folder of the device.") var storage = "storage"
    @Option(help: "Seed of the synthetic source.") var seed: UInt64 = 1
    @Option(help: "Device id stamped into every frame.") var deviceId = "BWV-0001"
    @Option(help: "UTC at start, YYYY-MM-DDTHH:MM:SSZ, or 'now' (default: 2026-01-01T08:00:00Z, fixed so reruns are identical).")
    var utcStart = "2026-01-01T08:00:00Z"
    @Option(help: "Sensor noise of synthetic frames, 0-64 (0 compresses unrealistically well).") var noise = 12
    @Flag(help: "Pace synthetic frames in real time instead of on the virtual clock.") var realtime = false

    @Option(help: "Start a recording this long after start-up.") var recordAfter = DurationOption(argument: "0s")!
    @Option(help: "Record for this long, then stop and exit.") var recordFor: DurationOption?
    @Option(help: "Stop after this much camera time (default: after the recording, or run until Ctrl-C).")
    var duration: DurationOption?
    @Option(help: "Emit a stats event this often (camera time); 0s for only at the end.")
    var statsEvery = DurationOption(argument: "60s")!

    func settings() throws -> CameraSettings {
        var s = CameraSettings()
        s.width = size.width
        s.height = size.height
        s.fps = fps
        s.quality = quality
        s.format = format
        s.preRecord = prerecord.nanos
        s.arenaBytes = prerecordBytes
        s.segmentDuration = segmentDuration.nanos
        s.segmentBytes = segmentBytes
        s.storage = storage
        s.seed = seed
        s.deviceID = deviceId
        s.noise = noise
        s.realTime = realtime
        if utcStart == "now" {
            s.utcStart = nil
        } else {
            guard let t = UTC.parse(utcStart) else {
                throw ValidationError("--utc-start '\(utcStart)': expected YYYY-MM-DDTHH:MM:SSZ or 'now'")
            }
            s.utcStart = t
        }
        let problems = s.problems()
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
        return s
    }

    func run() throws {
        let s = try settings()
        let clock: CameraClock = s.realTime ? MonotonicClock() : VirtualClock()
        let camera: CameraRuntime
        do {
            camera = try CameraRuntime(settings: s, clock: clock, events: JSONLinesSink())
        } catch {
            diagnostic(error.description)
            throw ExitCode(2)
        }
        signal(SIGINT) { _ in stopSignal = 1 }
        signal(SIGTERM) { _ in stopSignal = 1 }
        signal(SIGPIPE, SIG_IGN)

        let recordStart = recordAfter.nanos
        let recordEnd = recordFor.map { recordStart + $0.nanos }
        let end = duration?.nanos ?? recordEnd
        if end == nil && !s.realTime {
            diagnostic("no --record-for or --duration: running until Ctrl-C on the virtual clock")
        }
        let settingsSummary: [(String, JSON)] = [
            ("device", .string(s.deviceID)), ("width", .int(Int64(s.width))), ("height", .int(Int64(s.height))),
            ("fps", .int(Int64(s.fps))), ("format", .string(s.format.rawValue)), ("quality", .int(Int64(s.quality))),
            ("prerecord_s", .double(Double(s.preRecord) / 1e9)),
            ("prerecord_bytes", .int(Int64(camera.recorder.settings.arenaBytes))),
            ("frame_slots", .int(Int64(camera.recorder.settings.frameCapacity))),
            ("clock", .string(clock.isVirtual ? "virtual" : "real")),
            ("storage", .string(s.storage)),
        ]
        camera.emit("camera", settingsSummary)

        // The timeline of this run: optional recording window, stats, end. Each step runs the camera
        // up to the next point in time, then acts.
        let forever = Nanos.max / 2
        var recordAt: Nanos? = recordFor == nil ? nil : recordStart
        var stopAt = recordEnd
        var nextStats = statsEvery.nanos > 0 ? statsEvery.nanos : forever
        do {
            try camera.path.source.start()
            while true {
                let next = min(recordAt ?? forever, stopAt ?? forever, nextStats, end ?? forever)
                guard try camera.run(until: next, shouldStop: { stopSignal != 0 }) else { break }
                let now = camera.now
                if let t = recordAt, now >= t { camera.startRecording(trigger: "command"); recordAt = nil }
                if let t = stopAt, now >= t { camera.stopRecording(cause: "command"); stopAt = nil }
                if now >= nextStats { camera.statsEvent(); nextStats += statsEvery.nanos }
                if let end, now >= end { break }
            }
        } catch {
            camera.emit("error", [("source", .string("camera")), ("message", .string("\(error)"))])
            camera.shutdown()
            throw ExitCode(1)
        }
        camera.shutdown()
    }
}
