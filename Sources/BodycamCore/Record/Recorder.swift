#if canImport(Glibc)
import Glibc
#endif

/// What the capture side does when the ring is full of frames the writer has not written yet.
public enum BackPressure: String, Sendable {
    /// Live camera: time is real, capture must never wait for the disk. Drop the frame and count it.
    case drop
    /// Virtual clock: time is whatever the simulation says, so wait for the writer. Nothing is dropped
    /// and reruns are byte-identical.
    case wait
}

public struct RecorderSettings: Sendable {
    /// Folder the finished segments go in.
    public var directory: String
    public var deviceID: String
    public var width: Int
    public var height: Int
    public var fps: Int
    public var preRecord: Nanos
    public var arenaBytes: Int
    public var frameCapacity: Int
    public var segmentMaxDuration: Nanos
    public var segmentMaxBytes: Int
    public var backPressure: BackPressure
    /// How often (camera time) the open segment is made durable: a power cut loses at most this much
    /// of what was written.
    public var syncInterval: Nanos = Nanos.perSecond

    public init(directory: String, deviceID: String, width: Int, height: Int, fps: Int, preRecord: Nanos,
                arenaBytes: Int, frameCapacity: Int, segmentMaxDuration: Nanos, segmentMaxBytes: Int,
                backPressure: BackPressure) {
        self.directory = directory
        self.deviceID = deviceID
        self.width = width
        self.height = height
        self.fps = fps
        self.preRecord = preRecord
        self.arenaBytes = arenaBytes
        self.frameCapacity = frameCapacity
        self.segmentMaxDuration = segmentMaxDuration
        self.segmentMaxBytes = segmentMaxBytes
        self.backPressure = backPressure
    }

    /// Frames one segment can hold at most (sizes its preallocated index).
    public var segmentFrameCapacity: Int {
        Int((segmentMaxDuration * Nanos(fps) + Nanos.perSecond - 1) / Nanos.perSecond) + 1
    }
}

/// A recording as the writer sees it.
public struct RecordingInfo: Sendable {
    public var owner: UInt32
    public var id: String
    public var trigger: String
    /// Index one past the recording's last frame in the ring, once stopped.
    var stopIndex: UInt64?
    /// Frames of this recording lost because the writer fell behind (live capture only).
    var droppedFrames: UInt64 = 0
    var prerecordSeconds: Double = 0
    var markers: [Marker] = []
    /// When the recording was started, on the capture side's clocks.
    var startMono: Nanos = 0
    var startUTC: Int64 = 0
}

/// What the writer needs to make recordings evidence: the key that signs manifests, the audit trail.
public struct Evidence: Sendable {
    public var identity: DeviceIdentity
    public var audit: AuditLog
    public init(identity: DeviceIdentity, audit: AuditLog) {
        self.identity = identity
        self.audit = audit
    }
}

/// Counters the camera reports (every drop is counted somewhere here).
public struct RecorderCounters: Equatable, Sendable {
    public var ring = FrameRing.Counters()
    public var framesWritten: UInt64 = 0
    public var segmentsWritten: UInt64 = 0
    /// Frames of a recording that could not be written because its file failed (disk full, I/O error).
    public var framesLostOnWriteError: UInt64 = 0
    /// Storage the recordings will take once written (AVI chunk, index entry, one header per recording),
    /// counted on the capture side as frames join a recording, so it is the same on every run.
    public var recordedBytes: Int64 = 0
}

/// The pre-record ring plus the writer thread that drains recordings from it into AVI segments.
///
/// The capture thread calls `reserve`/`commit` for every frame and `startRecording`/`stopRecording` when
/// the state machine says so. The writer thread writes pending frames straight from the ring's arena
/// (lock released during I/O), rotates segments at the configured duration or size, and reports each
/// finished segment and recording as events.
public final class Recorder: @unchecked Sendable {
    public let settings: RecorderSettings
    private let events: EventSink
    private let evidence: Evidence?

    // Shared state, guarded by `lock`.
    private let lock = ConditionLock()
    private let ring: FrameRing
    private var recordings: [RecordingInfo] = []
    private var shuttingDown = false
    /// Fault injection: a stalled card (the writer takes no frames) until cleared.
    private var writerStalled = false
    /// Fault injection: every frame write fails with ENOSPC, as on a full card.
    private var outOfSpace = false
    /// The writer is writing outside the lock.
    private var writerBusy = false
    /// Set by the writer when a recording could not be written; taken by the capture side.
    private var failure: WriteFailure?
    private var counters = RecorderCounters()

    /// Why the writer gave up on a recording.
    public enum WriteFailure: Equatable, Sendable {
        case outOfSpace
        case ioError
    }

    // Writer-thread state.
    private let segment: AVISegmentWriter
    private let reserve: SpaceReserve
    /// Reused for hashing each finished segment. Read through a buffer, not mapped: a mapping would count
    /// the whole segment in resident memory while it is hashed (seen: 393 MiB peak against 322).
    private let hashBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 64)
    private var active: ActiveRecording?
    private var thread: OSThread?

    /// Recordings that may be queued (one being written, the rest waiting) before a start is refused.
    public static let maxQueuedRecordings = 4

    struct ActiveRecording {
        var info: RecordingInfo
        var segmentNumber = 0
        var frames: UInt64 = 0
        var bytes = 0
        var firstSequence: UInt64?
        var lastSequence: UInt64 = 0
        var segmentFirstSequence: UInt64 = 0
        var segmentFirstMono: Nanos = 0
        var segmentFirstUTC: Int64 = 0
        var failed = false
        var lostFrames: UInt64 = 0
        var startUTC: Int64 = 0
        var lastMono: Nanos = 0
        var lastUTC: Int64 = 0
        var lastSyncMono: Nanos = 0
        var segments: [SegmentRecord] = []

        /// When the writer's events about this recording happen: its last written frame's camera time and
        /// UTC, stamped at capture (so a dock clock correction made since is in them), or its start if no
        /// frame was written.
        var eventTime: (mono: Nanos, utc: Int64) {
            firstSequence == nil ? (info.startMono, info.startUTC) : (lastMono, lastUTC)
        }
    }

    /// - Parameter evidence: signs a manifest for every finished recording and records it in the audit
    ///   trail (nil: segments only).
    public init(settings: RecorderSettings, events: EventSink, evidence: Evidence? = nil) {
        self.settings = settings
        self.events = events
        self.evidence = evidence
        ring = FrameRing(arenaBytes: settings.arenaBytes, frameCapacity: settings.frameCapacity,
                         maxAge: settings.preRecord)
        segment = AVISegmentWriter(width: settings.width, height: settings.height, fps: settings.fps,
                                   frameCapacity: settings.segmentFrameCapacity)
        recordings.reserveCapacity(Recorder.maxQueuedRecordings)
        reserve = SpaceReserve(path: settings.directory + "/.space-reserve",
                               bytes: AVILayout.headerBytes + 8 + settings.segmentFrameCapacity * AVILayout.indexEntryBytes + 65_536)
        reserve.claim()
        hashBuffer.initializeMemory(as: UInt8.self, repeating: 0) // resident from the start
        thread = OSThread { [unowned self] in self.writerLoop() }
    }

    deinit { hashBuffer.deallocate() }

    // MARK: - Capture side

    /// Space for the next encoded frame, or nil if it has to be dropped (counted).
    public func reserve(_ byteCount: Int) -> UnsafeMutableRawBufferPointer? {
        lock.lock()
        defer { lock.unlock() }
        while true {
            let r = ring.reserve(byteCount)
            switch r {
            case .ok(let space):
                return space
            case .full where settings.backPressure == .wait && !shuttingDown && !writerStalled:
                // Virtual clock: wait for the writer. A stalled card never frees space, so then the
                // frame is dropped as on a live camera (deterministic: the stall starts drained).
                lock.wait()
            case .full, .tooLarge:
                ring.countDrop(r)
                if case .full = r, ring.currentOwner != 0, let i = recordings.lastIndex(where: { $0.owner == ring.currentOwner }) {
                    recordings[i].droppedFrames += 1
                }
                return nil
            }
        }
    }

    public func commit(length: Int, sequence: UInt64, mono: Nanos, utc: Int64) {
        lock.withLock {
            ring.commit(length: length, sequence: sequence, mono: mono, utc: utc)
            if ring.currentOwner != 0 {
                counters.recordedBytes += Recorder.storageBytes(length)
                lock.broadcast()
            }
        }
    }

    public func cancelReservation() { lock.withLock { ring.cancelReservation() } }

    /// Starts a recording that begins with the pre-record frames captured at or after `since`; `now` and
    /// `utcNow` are the capture side's clocks. Returns nil (and starts nothing) when too many recordings
    /// are still being written.
    public func startRecording(owner: UInt32, id: String, trigger: String, since: Nanos, now: Nanos,
                               utcNow: Int64) -> (frames: Int, firstMono: Nanos?)? {
        lock.withLock {
            guard recordings.count < Recorder.maxQueuedRecordings else { return nil }
            let taken = ring.startRecording(owner: owner, since: since)
            let prerecord = taken.firstMono.map { Double((now - $0) / Nanos.perMillisecond) / 1000 } ?? 0
            recordings.append(RecordingInfo(owner: owner, id: id, trigger: trigger, prerecordSeconds: prerecord,
                                            startMono: now, startUTC: utcNow))
            counters.recordedBytes += Int64(AVILayout.headerBytes + 8) + taken.bytes
            lock.broadcast()
            return (taken.frames, taken.firstMono)
        }
    }

    /// Notes a marker in the current recording (listed in its manifest).
    public func addMarker(_ marker: Marker) {
        lock.withLock {
            if let i = recordings.lastIndex(where: { $0.owner == ring.currentOwner }) { recordings[i].markers.append(marker) }
        }
    }

    /// Ends the current recording after the frames captured so far; the writer finishes it.
    public func stopRecording() {
        lock.withLock {
            let owner = ring.currentOwner
            let end = ring.stopRecording()
            if let i = recordings.firstIndex(where: { $0.owner == owner }) { recordings[i].stopIndex = end }
            lock.broadcast()
        }
    }

    /// Bytes a frame of `length` takes in a segment: its chunk and its index entry.
    static func storageBytes(_ length: Int) -> Int64 { Int64(AVILayout.chunkBytes(length) + AVILayout.indexEntryBytes) }

    /// Simulates a storage card that stops accepting writes (true) or recovers (false). While stalled,
    /// a live camera drops and counts frames once the ring is full; a virtual-clock run waits.
    public func setWriterStalled(_ stalled: Bool) {
        lock.withLock {
            writerStalled = stalled
            lock.broadcast()
        }
    }

    /// Fault injection: the card is full (true) or has space again (false).
    public func setOutOfSpace(_ full: Bool) {
        lock.withLock { outOfSpace = full }
        if !full { reserve.claim() }
    }

    /// Waits until the writer has done everything it has been given: every pending frame written and every
    /// stopped recording finalized (virtual clock only: a live camera never waits for the disk). The
    /// runtime settles the writer before it says or injects anything, so the writer's events, audit
    /// entries and faults land at the same point of every run.
    public func settle() {
        lock.withLock {
            while !writerStalled && (ring.nextPending() != nil || writerBusy || recordings.contains { $0.stopIndex != nil }) {
                lock.wait()
            }
        }
    }

    /// Waits until every recording is written and finalized (docking: nothing is offloaded half-written).
    public func waitUntilIdle() {
        lock.withLock {
            while !recordings.isEmpty && !writerStalled { lock.wait() }
        }
    }

    /// The writer's failure since the last call, if any.
    public func takeFailure() -> WriteFailure? {
        lock.withLock {
            defer { failure = nil }
            return failure
        }
    }

    /// Empties the pre-record buffer (sleep, dock, power off). Frames waiting for the writer stay.
    public func discardPreRecord() {
        lock.withLock { ring.discardPreRecord() }
    }

    /// Stops any recording, lets the writer finish every queued frame and file, and joins it.
    public func finish() {
        if lock.withLock({ ring.currentOwner != 0 }) { stopRecording() }
        lock.withLock {
            shuttingDown = true
            writerStalled = false
            lock.broadcast()
        }
        thread?.join()
        thread = nil
    }

    public var snapshot: (counters: RecorderCounters, framesHeld: Int, bytesHeld: Int, oldestMono: Nanos?) {
        lock.withLock {
            var c = counters
            c.ring = ring.counters
            return (c, ring.count, ring.bytesHeld, ring.oldestMono)
        }
    }

    /// Storage the recordings so far will take (cheap: read once a frame by the storage budget).
    public var recordedBytes: Int64 { lock.withLock { counters.recordedBytes } }

    /// True while a recording has frames the writer has not finished.
    public var isWriting: Bool { lock.withLock { !recordings.isEmpty } }

    // MARK: - Writer thread

    private func writerLoop() {
        lock.lock()
        while true {
            if writerStalled {
                lock.wait()
                continue
            }
            if let (index, frame) = ring.nextPending() {
                let info = recordings.first { $0.owner == frame.owner }!
                let full = outOfSpace
                writerBusy = true
                lock.unlock()
                if active?.info.owner != frame.owner {
                    finishActive()
                    active = ActiveRecording(info: info, startUTC: frame.utc)
                }
                write(frame, bytes: ring.bytes(of: frame), outOfSpace: full)
                lock.lock()
                writerBusy = false
                ring.markWritten(index)
                lock.broadcast()
                continue
            }
            if let a = active, let stop = recordings.first(where: { $0.owner == a.info.owner })?.stopIndex,
               ring.writeCursor >= stop {
                lock.unlock()
                finishActive()
                lock.lock()
                continue
            }
            // A recording stopped before the writer saw any of its frames has nothing to write.
            if active == nil, let i = recordings.firstIndex(where: { $0.stopIndex != nil && ring.writeCursor >= $0.stopIndex! }) {
                let nothing = ActiveRecording(info: recordings[i], startUTC: recordings[i].startUTC)
                lock.unlock()
                writeManifest(nothing)
                emitRecordingFinalized(nothing)
                lock.lock()
                recordings.removeAll { $0.owner == nothing.info.owner }
                lock.broadcast()
                continue
            }
            if shuttingDown && recordings.isEmpty { break }
            lock.wait()
        }
        lock.unlock()
    }

    /// Appends one frame to the active recording, rotating segments as needed.
    private func write(_ frame: RingFrame, bytes: UnsafeRawBufferPointer, outOfSpace: Bool) {
        guard var a = active else { return }
        defer { active = a }
        if a.failed {
            a.lostFrames += 1
            lock.withLock { counters.framesLostOnWriteError += 1 }
            return
        }
        do throws(IOError) {
            if segment.isOpen && (frame.mono - a.segmentFirstMono >= settings.segmentMaxDuration
                || !segment.canAppend(frame.length, maxFileBytes: settings.segmentMaxBytes)) {
                try closeSegment(&a)
            }
            if !segment.isOpen {
                a.segmentNumber += 1
                a.segmentFirstSequence = frame.sequence
                a.segmentFirstMono = frame.mono
                a.segmentFirstUTC = frame.utc
                a.lastSyncMono = frame.mono
                try segment.open(path: settings.directory + "/" + segmentName(a), directory: settings.directory)
            }
            if outOfSpace { throw IOError(operation: "write", path: settings.directory, errno: ENOSPC) }
            try segment.append(bytes)
            if frame.mono - a.lastSyncMono >= settings.syncInterval {
                try segment.sync()
                a.lastSyncMono = frame.mono
            }
            if a.firstSequence == nil { a.firstSequence = frame.sequence }
            a.lastSequence = frame.sequence
            a.lastMono = frame.mono
            a.lastUTC = frame.utc
            a.frames += 1
            lock.withLock { counters.framesWritten += 1 }
        } catch {
            a.failed = true
            if error.isOutOfSpace && segment.isOpen {
                // Give back the reserve so the frames already written get their index and header.
                reserve.release()
                do { try closeSegment(&a) } catch { segment.abandon() }
            } else {
                segment.abandon()
            }
            a.lostFrames += 1
            lock.withLock {
                counters.framesLostOnWriteError += 1
                failure = error.isOutOfSpace ? .outOfSpace : .ioError
            }
            events.emit(Event("error", mono: frame.mono, utc: frame.utc, [
                ("source", .string("writer")), ("recording", .string(a.info.id)),
                ("out_of_space", .bool(error.isOutOfSpace)), ("message", .string(error.description)),
            ]))
        }
    }

    private func closeSegment(_ a: inout ActiveRecording) throws(IOError) {
        let frames = segment.frames
        let (path, bytes) = try segment.close()
        a.bytes += bytes
        lock.withLock { counters.segmentsWritten += 1 }
        // The header is only final now, so the file's SHA-256 (what sha256sum prints) is taken here, from
        // the page cache the writes just filled.
        let digest = FileBytes.sha256(path, buffer: hashBuffer) ?? ""
        let name = String(path[path.index(after: path.lastIndex(of: "/")!)...])
        a.segments.append(SegmentRecord(index: a.segmentNumber, file: name, frames: frames, bytes: bytes,
                                        firstSeq: a.segmentFirstSequence, lastSeq: a.lastSequence,
                                        firstUTC: a.segmentFirstUTC, lastUTC: a.lastUTC, sha256: digest))
        let duration = Double(frames) / Double(settings.fps)
        events.emit(Event("segment", mono: a.eventTime.mono, utc: a.eventTime.utc, [
            ("recording", .string(a.info.id)), ("index", .int(Int64(a.segmentNumber))), ("path", .string(path)),
            ("frames", .int(Int64(frames))), ("bytes", .int(Int64(bytes))),
            ("first_seq", .int(Int64(a.segmentFirstSequence))), ("last_seq", .int(Int64(a.lastSequence))),
            ("start_utc", .string(UTC.iso(a.segmentFirstUTC))), ("duration_s", .double(duration)),
            ("sha256", .string(digest)),
        ]))
    }

    private func finishActive() {
        guard var a = active else { return }
        if segment.isOpen && !a.failed {
            do { try closeSegment(&a) } catch {
                a.failed = true
                events.emit(Event("error", mono: a.eventTime.mono, utc: a.eventTime.utc, [
                    ("source", .string("writer")), ("recording", .string(a.info.id)),
                    ("out_of_space", .bool(error.isOutOfSpace)), ("message", .string(error.description)),
                ]))
            }
        }
        lock.withLock {
            if let info = recordings.first(where: { $0.owner == a.info.owner }) { a.info = info }
        }
        writeManifest(a)
        emitRecordingFinalized(a)
        active = nil
        // Only now is the recording done: waitUntilIdle (docking) sees its manifest on disk.
        lock.withLock {
            recordings.removeAll { $0.owner == a.info.owner }
            lock.broadcast()
        }
    }

    /// Signs and writes the recording's manifest, and notes it in the audit trail.
    private func writeManifest(_ a: ActiveRecording) {
        guard let evidence else { return }
        let manifest = RecordingManifest(
            deviceID: evidence.identity.deviceID, recordingID: a.info.id, trigger: a.info.trigger,
            startUTC: a.segments.first?.firstUTC ?? a.startUTC, endUTC: a.lastUTC == 0 ? a.startUTC : a.lastUTC,
            prerecordSeconds: a.info.prerecordSeconds, markers: a.info.markers, segments: a.segments,
            droppedFrames: a.info.droppedFrames, lostFrames: a.lostFrames, complete: !a.failed, recovered: false)
        do {
            let digest = try manifest.write(to: settings.directory, identity: evidence.identity)
            evidence.audit.append("recording-finalized", mono: a.eventTime.mono, utc: a.eventTime.utc, [
                ("recording", .string(a.info.id)), ("segments", .int(Int64(a.segments.count))),
                ("frames", .int(Int64(manifest.frames))), ("complete", .bool(manifest.complete)),
                ("manifest_sha256", .string(digest)),
            ])
            events.emit(Event("manifest", mono: a.eventTime.mono, utc: a.eventTime.utc, [
                ("recording", .string(a.info.id)), ("path", .string(settings.directory + "/" + RecordingManifest.jsonName(a.info.id))),
                ("sha256", .string(digest)),
            ]))
        } catch {
            events.emit(Event("error", mono: a.eventTime.mono, utc: a.eventTime.utc, [
                ("source", .string("writer")), ("recording", .string(a.info.id)),
                ("out_of_space", .bool(error.isOutOfSpace)), ("message", .string("manifest: \(error)")),
            ]))
        }
    }

    private func emitRecordingFinalized(_ a: ActiveRecording) {
        events.emit(Event("recording", mono: a.eventTime.mono, utc: a.eventTime.utc, [
            ("action", .string("finalized")), ("id", .string(a.info.id)), ("trigger", .string(a.info.trigger)),
            ("frames", .int(Int64(a.frames))), ("segments", .int(Int64(a.segmentNumber))),
            ("bytes", .int(Int64(a.bytes))),
            ("first_seq", a.firstSequence.map { .int(Int64($0)) } ?? .null),
            ("last_seq", a.firstSequence == nil ? .null : .int(Int64(a.lastSequence))),
            ("dropped_frames", .int(Int64(a.info.droppedFrames))), ("complete", .bool(!a.failed)),
        ]))
    }

    /// `20260101T080000.000Z_BWV-0001-000001_001.avi`: sorts in time order, names its recording.
    private func segmentName(_ a: ActiveRecording) -> String {
        var n = String(a.segmentNumber)
        while n.count < 3 { n = "0" + n }
        return "\(UTC.compact(a.segmentFirstUTC))_\(a.info.id)_\(n).avi"
    }
}
