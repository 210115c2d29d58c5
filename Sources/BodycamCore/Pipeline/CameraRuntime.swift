import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Runs the camera: the capture loop on the calling thread, the recorder's writer on its own.
/// This is the edge where settings become objects and where actions meet I/O.
public final class CameraRuntime {
    public let settings: CameraSettings
    public let clock: CameraClock
    public let events: EventSink
    public let path: FramePath
    public let recorder: Recorder
    private let writerEvents: DeferredSink?
    private var ids: RecordingIDs
    private var recordingNumber: UInt32 = 0
    public private(set) var recordingID: String?

    public enum StartError: Error, CustomStringConvertible {
        case settings([String])
        case boot(DeviceBoot.Failure)
        case source(String)
        public var description: String {
            switch self {
            case .settings(let p): return p.joined(separator: "; ")
            case .boot(let e): return e.description
            case .source(let s): return s
            }
        }
    }

    /// Builds the camera around `source` (nil: the synthetic source from the settings).
    public init(settings: CameraSettings, clock: CameraClock, events: EventSink, source: FrameSource? = nil) throws(StartError) {
        let problems = settings.problems()
        guard problems.isEmpty else { throw .settings(problems) }
        self.settings = settings
        self.clock = clock
        self.events = events
        // Lock, identity, audit trail, repairs, clock and counters: nothing on the storage stops the boot.
        let boot: DeviceBoot
        do { boot = try DeviceBoot.start(settings: settings, clock: clock) } catch { throw .boot(error) }
        self.boot = boot
        identity = boot.identity
        audit = boot.audit
        recovery = boot.recovery
        let utc = boot.utc
        let frameSource: FrameSource
        if let source {
            frameSource = source
        } else {
            guard let s = SyntheticSource(width: settings.width, height: settings.height, fps: settings.fps,
                                          format: settings.format, seed: settings.seed, clock: clock, utc: utc,
                                          noise: settings.noise, jpegQuality: settings.quality,
                                          // Raw frames get the frame path's overlay (one stamp per frame);
                                          // JPEG ones, like an MJPEG webcam's own, keep the source's label.
                                          drawsLabel: settings.format == .mjpeg,
                                          // A buffer per frame in flight, and one for the frame looked at.
                                          framesOut: settings.encoders > 1 ? settings.encoders + 2 : 1) else {
                throw .source("synthetic frames are yuyv, i420 or mjpeg (\(settings.format.rawValue) comes from a camera or --source)")
            }
            frameSource = s
        }
        // Virtual clock: the writer's events wait for the capture side's next event (see `settleWriter`).
        writerEvents = clock.isVirtual ? DeferredSink(target: events) : nil
        recorder = Recorder(settings: settings.recorderSettings(backPressure: clock.isVirtual ? .wait : .drop),
                            events: writerEvents ?? events, evidence: Evidence(identity: boot.identity, audit: boot.audit))
        guard let p = FramePath(source: frameSource, recorder: recorder, deviceID: settings.deviceID,
                                quality: settings.quality, utc: utc,
                                overlay: settings.overlay ? settings.overlayTime : nil, encoders: settings.encoders) else {
            recorder.finish()
            throw .source("cannot create the JPEG encoder for \(settings.width)x\(settings.height)")
        }
        path = p
        ids = RecordingIDs(deviceID: settings.deviceID, counters: boot.counters, stateDirectory: settings.stateDirectory)
    }

    /// The storage as boot left it; holds the storage lock for the camera's life.
    public let boot: DeviceBoot
    public let identity: DeviceIdentity
    public let audit: AuditLog
    /// What boot-time recovery repaired.
    public let recovery: Recovery.Result

    /// Moves the camera's UTC by `offset` (a clock sync on the dock). Monotonic time does not jump.
    public func correctClock(by offset: Nanos) {
        path.utc.utcAtZero += offset
        path.source.clockCorrected(by: offset)
    }

    /// Fault injection: damages the next `count` frames, if the source can (false: it cannot).
    public func damageNextFrames(_ count: Int) -> Bool {
        guard let source = path.source as? FrameDamageInjecting else { return false }
        source.damageNextFrames(count)
        return true
    }

    /// Virtual clock: before the capture side says or records anything, the writer finishes what it has
    /// been given and its events are printed first. Stdout, the stats and the audit trail then come out
    /// the same on every run (a live camera never waits for the disk, so there the writer prints at once).
    private func settleWriter() {
        guard let writerEvents else { return }
        recorder.settle()
        writerEvents.flush()
    }

    /// Appends to the audit trail at the current time.
    public func record(_ event: String, _ fields: [(String, JSON)] = []) {
        settleWriter()
        if let e = audit.append(event, mono: now, utc: utcNow, fields) {
            emit("error", [("source", .string("audit")), ("message", .string(e.description))])
        }
    }

    public var now: Nanos { clock.now }
    public var utcNow: Int64 { path.utc.utc(clock.now) }

    public func emit(_ type: String, _ fields: [(String, JSON)] = []) {
        settleWriter()
        events.emit(Event(type, mono: clock.now, utc: utcNow, fields))
    }

    /// Starts a recording that includes up to the configured pre-record. Returns its id.
    /// The officer the camera is checked out to (a signed assignment from the records service), or nil.
    /// Every recording started carries it: event, audit entry, manifest.
    public var officer: String? {
        didSet { path.officer = officer }
    }

    @discardableResult
    public func startRecording(trigger: String, preRecord: Bool = true) -> String? {
        guard let (number, id) = ids.next() else {
            emit("alert", [("kind", .string("ids-exhausted")), ("message", .string("no recording number left on this device; start refused"))])
            return nil
        }
        guard let started = recorder.startRecording(owner: number, id: id, trigger: trigger, officer: officer,
                                                    since: clock.now - (preRecord ? settings.preRecord : 0), now: clock.now,
                                                    utcNow: utcNow) else {
            emit("alert", [("kind", .string("writer-busy")), ("message", .string("recordings still being written; start refused"))])
            return nil
        }
        recordingNumber = number
        recordingID = id
        // The recorder computed the pre-record once; the event, the audit entry and the manifest all say it.
        let fields: [(String, JSON)] = [("id", .string(id)), ("trigger", .string(trigger)), ("officer", officer.map { .string($0) } ?? .null),
                                        ("prerecord_frames", .int(Int64(started.prerecordFrames))),
                                        ("prerecord_s", .double(started.prerecordSeconds))]
        emit("recording", [("action", .string("started"))] + fields)
        record("recording-started", fields)
        return id
    }

    public func stopRecording(cause: String) {
        guard let id = recordingID else { return }
        recorder.stopRecording()
        emit("recording", [("action", .string("stopped")), ("id", .string(id)), ("cause", .string(cause))])
        record("recording-stopped", [("id", .string(id)), ("cause", .string(cause))])
        recordingID = nil
    }

    public enum RunResult: Equatable {
        case reachedDeadline
        /// `interrupt` asked to stop after a frame; the clock is at that frame's time.
        case interrupted
        case sourceEnded
    }

    /// Captures every frame due before `deadline`, then sets the clock to `deadline`. Events scheduled
    /// at `deadline` therefore apply to the frame captured at `deadline`, not the one before.
    /// `interrupt` is asked after every frame (storage budget, writer failures, Ctrl-C).
    public func run(until deadline: Nanos, interrupt: () -> Bool = { false }) throws(FrameSourceError) -> RunResult {
        // Whatever happens next (a button, a dock, stats) sees every frame captured so far in the ring.
        defer { path.drain() }
        while true {
            if let due = path.source.nextFrameDue {
                if due >= deadline { break }
            } else if clock.isVirtual {
                return .sourceEnded // a finite synthetic or file source has ended
            } else if clock.now >= deadline {
                break
            }
            guard try path.step() != nil else { return .sourceEnded }
            if interrupt() { return .interrupted }
        }
        clock.sleep(until: deadline)
        return .reachedDeadline
    }

    /// Starts feeding the pre-record buffer.
    public func startCapture() throws(FrameSourceError) { try path.startCapture() }

    /// Stops capture and empties the pre-record buffer (sleep, dock, off).
    public func stopCapture() {
        path.drain()
        path.source.stop()
        recorder.discardPreRecord()
    }

    public func statsEvent() {
        settleWriter() // the writer's counters as of now, not as far as it happens to have got
        let snap = recorder.snapshot
        let c = path.counters, r = snap.counters.ring
        let heldSeconds = snap.oldestMono.map { Double(clock.now - $0) / 1e9 } ?? 0
        let fields: [(String, JSON)] = [
            ("frames_captured", .int(Int64(c.captured))), ("frames_stored", .int(Int64(c.stored))),
            ("frames_written", .int(Int64(snap.counters.framesWritten))),
            ("segments_written", .int(Int64(snap.counters.segmentsWritten))),
            ("dropped_ring_full", .int(Int64(r.droppedFull))), ("dropped_too_large", .int(Int64(r.droppedTooLarge))),
            ("dropped_encode_error", .int(Int64(c.encodeErrors))), ("dropped_invalid_jpeg", .int(Int64(c.invalidJPEG))),
            ("dropped_by_source", .int(Int64(c.sourceGaps))), ("dropped_damaged", .int(Int64(c.damaged))),
            ("dropped_encoders_busy", .int(Int64(c.encodersBusy))),
            ("lost_on_write_error", .int(Int64(snap.counters.framesLostOnWriteError))),
            ("prerecord_evicted_for_space", .int(Int64(r.evictedForSpace))),
            ("ring_frames", .int(Int64(snap.framesHeld))), ("ring_bytes", .int(Int64(snap.bytesHeld))),
            ("ring_seconds", .double((heldSeconds * 1000).rounded() / 1000)),
            ("encoder_heap_fallbacks", .int(Int64(path.encoderHeapFallbacks))),
            ("rss_bytes", ProcessStats.residentBytes().map { .int($0) } ?? .null),
        ]
        emit("stats", fields + (path.liveTap?.fields ?? []))
    }

    /// Stops any recording and waits for every file to be finished.
    public func shutdown() {
        path.drain()
        stopRecording(cause: "shutdown")
        recorder.finish()
        path.source.stop()
        statsEvent()
        record("shutdown")
        audit.checkpoint(mono: now, utc: utcNow)
    }

    /// Every frame lost anywhere on the path (the sum of the drop counters).
    public var framesDropped: UInt64 {
        let c = path.counters, s = recorder.snapshot.counters
        return c.notStored + c.encodeErrors + c.invalidJPEG + c.sourceGaps + c.damaged + c.encodersBusy + s.framesLostOnWriteError
    }
}
