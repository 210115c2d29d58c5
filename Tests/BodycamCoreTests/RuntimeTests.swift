import Foundation
import Testing
@testable import BodycamCore
#if canImport(Glibc)
import Glibc
@testable import BodycamEvidence
#endif

/// The camera run in-process (CameraRuntime + DeviceRuntime + ScriptRunner) on scripts, with a watchdog so
/// that a hang fails the test instead of the suite.
struct RuntimeTests {
    struct InProcess {
        var events: CollectingSink
        var storage: String
        var recordings: String { storage + "/recordings" }
        func events(_ type: String) -> [Event] { events.events(type) }
    }

    /// Runs `script` to completion on a thread; fails (throws) if it has not ended within `watchdog`
    /// seconds. The bound only tells a hang from a run: these runs take well under a second of work, and
    /// the limit is generous so a busy machine never trips it.
    static func run(_ script: String, clock: CameraClock = VirtualClock(), source: FrameSource? = nil,
                    watchdog: Double = 60, configure: (inout CameraSettings) -> Void = { _ in }) throws -> InProcess {
        let storage = TestSupport.temporaryDirectory("runtime")
        var settings = CameraSettings()
        settings.width = 160
        settings.height = 120
        settings.storage = storage
        configure(&settings)
        let scriptPath = storage + "-script"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let fd = open(scriptPath, O_RDONLY)
        let events = CollectingSink()
        let camera = try CameraRuntime(settings: settings, clock: clock, events: events, source: source)
        let device = DeviceRuntime(camera: camera, config: DeviceConfig(), batteryPercent: 100, storageCapacity: 1 << 32,
                                   statsEvery: 0, dock: .init(target: RecordsFolder(root: storage + "-records"),
                                                              bytesPerSecond: 40_000_000, clockOffset: 0))
        let runner = ScriptRunner(device: device, reader: LineReader(fd: fd), stop: { false })
        let done = DispatchSemaphore(value: 0)
        let box = UncheckedBox(runner)
        Thread.detachNewThread {
            box.value.run()
            done.signal()
        }
        guard done.wait(timeout: .now() + watchdog) == .success else {
            throw TestError("the camera did not finish the script within \(watchdog) s: it hangs")
        }
        close(fd)
        return InProcess(events: events, storage: storage)
    }

    final class UncheckedBox<T>: @unchecked Sendable {
        let value: T
        init(_ v: T) { value = v }
    }

    static func string(_ e: Event, _ key: String) -> String? { if case .string(let s)? = e[key] { return s } else { return nil } }
    static func int(_ e: Event, _ key: String) -> Int64? { if case .int(let i)? = e[key] { return i } else { return nil } }
    static func bool(_ e: Event, _ key: String) -> Bool? { if case .bool(let b)? = e[key] { return b } else { return nil } }

    /// Issue 10: with every frame of the pre-record window damaged, the recording owns no frame and the
    /// stale pre-record frames were never aged out (nothing was committed since); stopping it waited for
    /// the writer to pass them, and the writer waited for a frame. Hung for ever at `quit`.
    @Test func aRecordingWithNoFrameAfterDamagedFramesFinishesInsteadOfHanging() throws {
        let r = try Self.run("wait 3s\nfault corrupt-frames 100\nwait 2s\ndouble record\nquit\n", watchdog: 30) {
            $0.preRecord = Nanos.perSecond
        }
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        let finalized = r.events("recording").filter { Self.string($0, "action") == "finalized" }
        #expect(finalized.count == 1)
        #expect(finalized.first.flatMap { Self.int($0, "frames") } == 0)
        #expect(PosixFile.list(r.recordings).filter { $0.contains(".avi") }.isEmpty) // no frame: no segment
    }

    /// The same hand-off with the recorder alone: a stopped recording that owns no frame is finished
    /// even though pre-record frames older than its start are still in the ring.
    @Test func settlingNeverWaitsOnAStoppedRecordingWithNoFrames() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let jpeg = try JPEGMarkerTests.sampleJPEG()
        let events = CollectingSink()
        let r = Recorder(settings: RecorderTests.settings(dir, backPressure: .wait), events: events)
        for seq in 0..<10 { _ = RecorderTests.store(r, jpeg, seq: UInt64(seq)) }
        // Starts after every frame held: it takes none, and no frame comes before it stops.
        _ = try #require(r.startRecording(owner: 1, id: "T-1-000001", trigger: "test", since: 10 * Nanos.perSecond,
                                          now: 10 * Nanos.perSecond, utcNow: 0))
        r.stopRecording()
        let done = DispatchSemaphore(value: 0)
        let box = UncheckedBox(r)
        Thread.detachNewThread {
            box.value.settle()
            box.value.finish()
            done.signal()
        }
        // Generous: settle takes microseconds; only a deadlock takes longer.
        try #require(done.wait(timeout: .now() + 10) == .success, "settle/finish hang")
        #expect(events.events("recording").first?["frames"] == .int(0))
    }

    /// Issue 10: stall, then a full card, during a recording wrote a 0-frame segment (2,056 bytes, not
    /// decodable) with a manifest saying first_seq 135, last_seq 0, last_utc 1970. Tried at several timings.
    @Test(arguments: [
        "wait 3s\nfault disk-stall\ndouble record\nwait 1s\nfault disk-full\nwait 1s\nquit\n",
        "wait 3s\ndouble record\nwait 1s\nfault disk-stall\nwait 1s\nfault disk-full\nwait 1s\nquit\n",
        "wait 3s\ndouble record\nwait 2500ms\nfault disk-stall\nfault disk-full\nfault disk-resume\nwait 1s\nquit\n",
        "wait 4s\nfault disk-stall\ndouble record\nfault disk-full\nwait 2s\nfault disk-ok\nfault disk-resume\ndouble record\nwait 2s\nquit\n",
    ])
    func stallThenFullCardWritesNoEmptySegmentAndConsistentManifests(script: String) throws {
        let r = try Self.run(script) {
            $0.preRecord = Nanos.perSecond
            $0.segmentDuration = 2 * Nanos.perSecond
        }
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        try Self.checkRecordings(r)
    }

    /// Every segment decodes with ffmpeg, and every manifest's counts, sequence numbers and times are
    /// those of its segments (read back from the files: stamps, frame counts).
    static func checkRecordings(_ r: InProcess, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let names = PosixFile.list(r.recordings)
        #expect(!names.contains { $0.hasSuffix(".part") }, "no unfinished segment", sourceLocation: sourceLocation)
        let manifests = names.filter { $0.hasSuffix(".manifest.json") }
        // Every finalized recording has its manifest here, or was offloaded (docked) with it.
        let offloaded = r.events("offload").filter { Self.string($0, "action") == "recording-offloaded" }.count
        #expect(manifests.count + offloaded == r.events("recording").filter { Self.string($0, "action") == "finalized" }.count,
                sourceLocation: sourceLocation)
        var listed: Set<String> = []
        for m in manifests {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: r.recordings + "/" + m))) as? [String: Any])
            let segments = try #require(json["segments"] as? [[String: Any]])
            var total = 0
            for s in segments {
                let file = try #require(s["file"] as? String)
                listed.insert(file)
                let path = r.recordings + "/" + file
                #expect(try TestSupport.ffmpegDecodeErrors(path) == "", "\(file) decodes", sourceLocation: sourceLocation)
                let stamps = try TestSupport.stamps([path])
                #expect(!stamps.isEmpty && s["frames"] as? Int == stamps.count, "\(file) frames", sourceLocation: sourceLocation)
                #expect(s["first_seq"] as? Int == stamps.first.map { Int($0.sequence) }, sourceLocation: sourceLocation)
                #expect(s["last_seq"] as? Int == stamps.last.map { Int($0.sequence) }, sourceLocation: sourceLocation)
                #expect(s["first_utc"] as? String == stamps.first.map { UTC.iso($0.utc) }, sourceLocation: sourceLocation)
                #expect(s["last_utc"] as? String == stamps.last.map { UTC.iso($0.utc) }, sourceLocation: sourceLocation)
                total += stamps.count
            }
            #expect(json["frames"] as? Int == total, "\(m) frames", sourceLocation: sourceLocation)
            if let first = segments.first, let last = segments.last {
                #expect(json["start_utc"] as? String == first["first_utc"] as? String, sourceLocation: sourceLocation)
                #expect(json["end_utc"] as? String == last["last_utc"] as? String, sourceLocation: sourceLocation)
            } else {
                #expect(json["start_utc"] as? String == json["end_utc"] as? String, sourceLocation: sourceLocation)
            }
            let end = try #require(json["end_utc"] as? String)
            #expect(!end.hasPrefix("1970"), sourceLocation: sourceLocation)
        }
        // Every segment on the camera is listed in a manifest.
        #expect(Set(names.filter { $0.hasSuffix(".avi") }) == listed, sourceLocation: sourceLocation)
    }

    /// Pre-record seconds are computed once, in whole milliseconds: the event, the audit entry and the
    /// signed manifest say the same number (they said 0.987 and 0.986).
    @Test func thePreRecordIsTheSameNumberInTheEventTheAuditAndTheManifest() throws {
        let r = try Self.run("wait 2500ms\ndouble record\nwait 1s\nhold record 3s\nquit\n", configure: {
            $0.preRecord = 987 * Nanos.perMillisecond
            $0.fps = 7
        })
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        let started = try #require(r.events("recording").first { Self.string($0, "action") == "started" })
        guard case .double(let fromEvent)? = started["prerecord_s"] else { Issue.record("no prerecord_s"); return }
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: r.recordings + "/BWV-0001-000001.manifest.json"))) as? [String: Any])
        #expect(manifest["prerecord_s"] as? Double == fromEvent)
        let audit = try String(contentsOfFile: r.storage + "/state/audit.jsonl", encoding: .utf8)
        let entry = try #require(audit.split(separator: "\n").first { $0.contains("recording-started") })
        #expect(entry.contains("\"prerecord_s\":\(fromEvent)"))
        #expect(fromEvent > 0 && (fromEvent * 1000).rounded() == fromEvent * 1000)
    }
}

/// The runtime is a plain executor: whatever the script, after every command the `status` says the state
/// the last `state` event went to (inputs raised while outputs are carried out are queued, not re-entered).
struct RuntimeOrderTests {
    static let commands = [
        "double record", "hold record 3s", "press function", "trigger holster", "trigger taser", "wait 1s", "wait 5s",
        "wait 200ms", "fault disk-stall", "fault disk-resume", "fault disk-full", "fault disk-ok", "fault camera-lost",
        "fault camera-back", "fault corrupt-frames 20", "dock", "undock", "press power", "press power\npress function",
        "hold function 3s", "battery 50",
    ]

    /// After each command, the status must agree with the last `state` event.
    static func checkAgreement(_ events: [Event], sourceLocation: SourceLocation = #_sourceLocation) {
        var lastTo: String?
        var statuses = 0
        for e in events {
            if e.type == "state" { lastTo = RuntimeTests.string(e, "to") }
            if e.type == "status", let to = lastTo {
                statuses += 1
                #expect(RuntimeTests.string(e, "state") == to, "status at \(e.mono) says \(RuntimeTests.string(e, "state") ?? "?"), the last state event \(to)",
                        sourceLocation: sourceLocation)
                #expect(RuntimeTests.bool(e, "recording") == (to == "recording"), sourceLocation: sourceLocation)
            }
        }
        #expect(statuses > 0, sourceLocation: sourceLocation)
    }

    /// A start the recorder refuses (too many recordings queued behind a stalled card) raises a write
    /// failure while the start's outputs are carried out: handled after them, so the events end in ready.
    @Test func aRefusedStartEndsInTheStateTheStatusSays() throws {
        var script = "wait 3s\nfault disk-stall\n"
        for _ in 0..<(Recorder.maxQueuedRecordings + 1) { script += "double record\nwait 1s\nhold record 3s\nstatus\n" }
        script += "double record\nstatus\nfault disk-resume\nquit\n"
        let r = try RuntimeTests.run(script)
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        #expect(r.events("alert").contains { RuntimeTests.string($0, "kind") == "writer-busy" })
        Self.checkAgreement(r.events.events)
    }

    @Test(arguments: 1...6 as ClosedRange<UInt64>)
    func eventsAndStatusAgreeOnRandomScripts(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var script = "wait 3s\nstatus\n"
        for _ in 0..<30 {
            script += Self.commands[Int(rng.next() % UInt64(Self.commands.count))] + "\nstatus\n"
        }
        script += "quit\n"
        let r = try RuntimeTests.run(script)
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        Self.checkAgreement(r.events.events)
        try RuntimeTests.checkRecordings(r)
    }
}

/// Real clock: a scripted gesture keeps its spacing in camera time however slow the frame path is.
struct RealClockInputTests {
    /// A live-camera-like source (no schedule of its own) whose every frame takes `delay` of real time.
    final class SlowSource: FrameSource {
        let inner: SyntheticSource
        let delay: Nanos
        let clock: MonotonicClock
        init(inner: SyntheticSource, delay: Nanos, clock: MonotonicClock) {
            self.inner = inner
            self.delay = delay
            self.clock = clock
        }
        var geometry: FrameGeometry { inner.geometry }
        var frameInterval: Nanos { inner.frameInterval }
        var nextFrameDue: Nanos? { nil }
        func start() throws(FrameSourceError) { try inner.start() }
        func nextFrame() throws(FrameSourceError) -> CapturedFrame? {
            clock.sleep(until: clock.now + delay)
            guard var f = try inner.nextFrame() else { return nil }
            f.mono = clock.now
            return f
        }
        func releaseFrame(_ frame: CapturedFrame) { inner.releaseFrame(frame) }
        func stop() { inner.stop() }
    }

    /// Frames take 400 ms each: "double record" used to reach the machine with its down edges ~800 ms
    /// apart (each edge stamped after a frame), which is no double press (window 500 ms).
    @Test func aDoublePressIsADoublePressHoweverSlowTheFrames() throws {
        let clock = MonotonicClock()
        let inner = try #require(SyntheticSource(width: 160, height: 120, fps: 30, format: .yuyv, seed: 1, clock: clock,
                                                 utc: UTCMapping(utcAtZero: 0)))
        let r = try RuntimeTests.run("wait 3s\ndouble record\nwait 500ms\nstatus\nquit\n", clock: clock,
                                     source: SlowSource(inner: inner, delay: 400 * Nanos.perMillisecond, clock: clock)) {
            $0.preRecord = Nanos.perSecond
        }
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        let gestures = r.events("gesture").map { RuntimeTests.string($0, "gesture") }
        #expect(gestures.contains("double"), "gestures: \(gestures)")
        #expect(r.events("recording").contains { RuntimeTests.string($0, "action") == "started" })
        #expect(r.events("status").last.flatMap { RuntimeTests.string($0, "state") } == "recording")
    }
}
