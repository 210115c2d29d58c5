import BodycamEvidence
/// The hand-off between the capture thread and the writer thread: the pre-record ring (which is also the
/// writer's queue), the recordings being written, the writer's failures and the counters, under one lock.
///
/// Each side waits on its own condition, for a predicate with no side effects:
/// - the writer waits on `work` until there is a frame to write, a stopped recording whose frames are
///   all written, or shutdown. Whether a stopped recording is done depends only on the frames it owns
///   (`FrameRing.hasPending(of:)`), never on stale pre-record frames being evicted first;
/// - the capture side waits on `progress` for ring space (virtual clock), for `settle` and for
///   `waitUntilIdle`. Every change the other side waits for broadcasts its condition, under the lock.
/// Nothing is allocated per frame: the ring and the recordings table are sized once.
final class RecordingQueue: @unchecked Sendable {
    /// Recordings that may be queued (one being written, the rest waiting) before a start is refused.
    static let maxQueuedRecordings = 4

    private let backPressure: BackPressure
    private let lock = ConditionLock()
    private let work = Condition()
    private let progress = Condition()
    private let ring: FrameRing
    /// Oldest first; only the last one may still be recording.
    private var recordings: [RecordingInfo] = []
    private var shuttingDown = false
    /// Fault injection: a stalled card (the writer takes no frames) until cleared.
    private var writerStalled = false
    /// Fault injection: every frame write fails with ENOSPC, as on a full card.
    private var outOfSpace = false
    /// The writer is carrying out a job outside the lock.
    private var writerBusy = false
    /// Set by the writer when a recording could not be written; taken by the capture side.
    private var failure: WriteFailure?
    private var counters = RecorderCounters()

    init(settings: RecorderSettings) {
        backPressure = settings.backPressure
        ring = FrameRing(arenaBytes: settings.arenaBytes, frameCapacity: settings.frameCapacity, maxAge: settings.preRecord)
        recordings.reserveCapacity(Self.maxQueuedRecordings)
    }

    // MARK: - Capture side

    func reserve(_ byteCount: Int) -> UnsafeMutableRawBufferPointer? {
        lock.lock()
        defer { lock.unlock() }
        while true {
            let r = ring.reserve(byteCount)
            switch r {
            case .ok(let space):
                return space
            case .full where backPressure == .wait && !shuttingDown && !writerStalled:
                // Virtual clock: wait for the writer. A stalled card never frees space, so then the
                // frame is dropped as on a live camera (deterministic: the stall starts drained).
                lock.wait(progress)
            case .full, .tooLarge:
                ring.countDrop(r)
                if case .full = r, ring.currentOwner != 0, let i = recordings.lastIndex(where: { $0.owner == ring.currentOwner }) {
                    recordings[i].droppedFrames += 1
                }
                return nil
            }
        }
    }

    func commit(length: Int, sequence: UInt64, mono: Nanos, utc: Int64, sourceSkipped: UInt32) {
        lock.withLock {
            ring.commit(length: length, sequence: sequence, mono: mono, utc: utc, sourceSkipped: sourceSkipped)
            if ring.currentOwner != 0 {
                counters.recordedBytes += AVILayout.storageBytes(frameLength: length)
                lock.broadcast(work)
            }
        }
    }

    func cancelReservation() { lock.withLock { ring.cancelReservation() } }

    func startRecording(owner: UInt32, id: String, trigger: String, officer: String?, since: Nanos, now: Nanos, utcNow: Int64) -> StartedRecording? {
        lock.withLock {
            guard recordings.count < Self.maxQueuedRecordings else { return nil }
            let taken = ring.startRecording(owner: owner, since: since)
            // Rounded to the nearest millisecond, once: every report of it uses this value.
            let milliseconds = taken.firstMono.map { (now - $0 + Nanos.perMillisecond / 2) / Nanos.perMillisecond } ?? 0
            recordings.append(RecordingInfo(owner: owner, id: id, trigger: trigger, officer: officer, prerecordMilliseconds: milliseconds,
                                            startMono: now, startUTC: utcNow))
            counters.recordedBytes += Int64(AVILayout.segmentOverheadBytes) + taken.bytes
            lock.broadcast(work)
            return StartedRecording(prerecordFrames: taken.frames, prerecordMilliseconds: milliseconds)
        }
    }

    func addMarker(_ marker: Marker) {
        lock.withLock {
            if let i = recordings.lastIndex(where: { $0.owner == ring.currentOwner }) { recordings[i].markers.append(marker) }
        }
    }

    /// True if a recording was being captured and is now stopped.
    @discardableResult
    func stopRecording() -> Bool {
        lock.withLock {
            let owner = ring.currentOwner
            guard owner != 0 else { return false }
            let end = ring.stopRecording()
            if let i = recordings.firstIndex(where: { $0.owner == owner }) { recordings[i].stopIndex = end }
            lock.broadcast(work)
            return true
        }
    }

    func setWriterStalled(_ stalled: Bool) {
        lock.withLock {
            writerStalled = stalled
            lock.broadcast(work)
            lock.broadcast(progress)
        }
    }

    func setOutOfSpace(_ full: Bool) { lock.withLock { outOfSpace = full } }

    /// Waits until the writer has done everything it has been given (or is stalled).
    func settle() {
        lock.withLock {
            while !writerStalled && (ring.pendingCount > 0 || writerBusy || recordings.contains(where: \.isStopped)) {
                lock.wait(progress)
            }
        }
    }

    /// Waits until every recording is written and finalized (or the writer is stalled).
    func waitUntilIdle() {
        lock.withLock {
            while !recordings.isEmpty && !writerStalled { lock.wait(progress) }
        }
    }

    func takeFailure() -> WriteFailure? {
        lock.withLock {
            defer { failure = nil }
            return failure
        }
    }

    func discardPreRecord() { lock.withLock { ring.discardPreRecord() } }

    /// From now on the writer finishes what it has and exits; a stall is lifted.
    func beginShutdown() {
        lock.withLock {
            shuttingDown = true
            writerStalled = false
            lock.broadcast(work)
            lock.broadcast(progress)
        }
    }

    var snapshot: (counters: RecorderCounters, framesHeld: Int, bytesHeld: Int, oldestMono: Nanos?) {
        lock.withLock {
            var c = counters
            c.ring = ring.counters
            return (c, ring.count, ring.bytesHeld, ring.oldestMono)
        }
    }

    var recordedBytes: Int64 { lock.withLock { counters.recordedBytes } }
    var isWriting: Bool { lock.withLock { !recordings.isEmpty } }

    // MARK: - Writer side

    /// What the writer does next.
    enum Job {
        /// Write frame `index` (its bytes stay valid until `written`) into `recording`.
        case write(index: UInt64, frame: RingFrame, bytes: UnsafeRawBufferPointer, recording: RecordingInfo, outOfSpace: Bool)
        /// Every frame of this stopped recording has been handled: finalize it, then call `finished`.
        case finish(RecordingInfo)
        case exit
    }

    /// Waits for the writer's next job. Recordings are finished in order: the oldest stopped one as soon
    /// as it owns no pending frame, before any frame of a later recording is written.
    func nextJob() -> Job {
        lock.withLock {
            while true {
                if !writerStalled {
                    if let oldest = recordings.first, oldest.isStopped, !ring.hasPending(of: oldest.owner) {
                        writerBusy = true
                        return .finish(oldest)
                    }
                    if let (index, frame) = ring.nextPending(), let recording = recordings.first(where: { $0.owner == frame.owner }) {
                        writerBusy = true
                        return .write(index: index, frame: frame, bytes: ring.bytes(of: frame), recording: recording,
                                      outOfSpace: outOfSpace)
                    }
                    if shuttingDown && recordings.isEmpty { return .exit }
                }
                // Settling waits on the writer: say when it has nothing (left) it can do.
                lock.broadcast(progress)
                lock.wait(work)
            }
        }
    }

    /// The writer is done with frame `index`: stored in a file, or lost to a write error.
    func written(_ index: UInt64, stored: Bool) {
        lock.withLock {
            ring.markWritten(index)
            if stored { counters.framesWritten += 1 } else { counters.framesLostOnWriteError += 1 }
            writerBusy = false
            lock.broadcast(progress)
        }
    }

    /// The recording `owner` is finalized (manifest on disk): waiters for idle may go on.
    func finished(owner: UInt32) {
        lock.withLock {
            recordings.removeAll { $0.owner == owner }
            writerBusy = false
            lock.broadcast(progress)
        }
    }

    func countSegmentWritten() { lock.withLock { counters.segmentsWritten += 1 } }

    func fail(_ f: WriteFailure) { lock.withLock { failure = f } }

    /// The latest recording details (markers and drops are added while it is written).
    func recording(_ owner: UInt32) -> RecordingInfo? { lock.withLock { recordings.first { $0.owner == owner } } }
}

extension RecordingQueue {
    /// Frames counted as written whose segment could not be finished: they are lost after all.
    func moveToLost(frames: UInt64) {
        guard frames > 0 else { return }
        lock.withLock {
            counters.framesWritten -= frames
            counters.framesLostOnWriteError += frames
        }
    }
}
