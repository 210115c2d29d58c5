import BodycamEvidence
/// The recorder the frame path and the runtime talk to: the capture-side queue (`RecordingQueue`: the
/// pre-record ring, back-pressure, recordings being written) and the writer thread (`RecordingWriter`,
/// which seals segments and recordings through `RecordingEvidence`).
///
/// The capture thread calls `reserve`/`commit` for every frame (no allocation, the lock held only to move
/// ring cursors) and `startRecording`/`stopRecording` when the state machine says so.
public final class Recorder: @unchecked Sendable {
    public typealias WriteFailure = BodycamCore.WriteFailure

    public let settings: RecorderSettings
    private let queue: RecordingQueue
    private let writer: RecordingWriter

    /// Recordings that may be queued (one being written, the rest waiting) before a start is refused.
    public static let maxQueuedRecordings = RecordingQueue.maxQueuedRecordings

    /// - Parameter evidence: signs a manifest for every finished recording and records it in the audit
    ///   trail (nil: segments only).
    public init(settings: RecorderSettings, events: EventSink, evidence: Evidence? = nil) {
        self.settings = settings
        queue = RecordingQueue(settings: settings)
        writer = RecordingWriter(settings: settings, queue: queue, events: events, evidence: evidence)
    }

    // MARK: - Capture side

    /// Space for the next encoded frame, or nil if it has to be dropped (counted).
    @inline(__always)
    public func reserve(_ byteCount: Int) -> UnsafeMutableRawBufferPointer? { queue.reserve(byteCount) }

    @inline(__always)
    /// `sourceSkipped`: frames the source skipped since the frame stored before this one.
    public func commit(length: Int, sequence: UInt64, mono: Nanos, utc: Int64, sourceSkipped: UInt32 = 0) {
        queue.commit(length: length, sequence: sequence, mono: mono, utc: utc, sourceSkipped: sourceSkipped)
    }

    public func cancelReservation() { queue.cancelReservation() }

    /// Starts a recording that begins with the pre-record frames captured at or after `since`; `now` and
    /// `utcNow` are the capture side's clocks. Nil (and nothing started) when too many recordings are
    /// still being written.
    public func startRecording(owner: UInt32, id: String, trigger: String, officer: String? = nil, since: Nanos, now: Nanos,
                               utcNow: Int64) -> StartedRecording? {
        queue.startRecording(owner: owner, id: id, trigger: trigger, officer: officer, since: since, now: now, utcNow: utcNow)
    }

    /// Notes a marker in the current recording (listed in its manifest).
    public func addMarker(_ marker: Marker) { queue.addMarker(marker) }

    /// Ends the current recording after the frames captured so far; the writer finishes it.
    public func stopRecording() { queue.stopRecording() }

    /// Bytes a frame of `length` takes in a segment: its chunk and its index entry.

    /// Simulates a storage card that stops accepting writes (true) or recovers (false). While stalled,
    /// a live camera drops and counts frames once the ring is full; a virtual-clock run too (the stall
    /// starts drained, so the same frames are dropped every run).
    public func setWriterStalled(_ stalled: Bool) { queue.setWriterStalled(stalled) }

    /// Fault injection: the card is full (true) or has space again (false).
    public func setOutOfSpace(_ full: Bool) {
        queue.setOutOfSpace(full)
        if !full { writer.reclaimReserve() }
    }

    /// Waits until the writer has done everything it has been given: every pending frame written and every
    /// stopped recording finalized (virtual clock only: a live camera never waits for the disk). The
    /// runtime settles the writer before it says or injects anything, so the writer's events, audit
    /// entries and faults land at the same point of every run.
    public func settle() { queue.settle() }

    /// Waits until every recording is written and finalized (docking: nothing is offloaded half-written).
    public func waitUntilIdle() { queue.waitUntilIdle() }

    /// The writer's failure since the last call, if any.
    public func takeFailure() -> WriteFailure? { queue.takeFailure() }

    /// Empties the pre-record buffer (sleep, dock, power off). Frames waiting for the writer stay.
    public func discardPreRecord() { queue.discardPreRecord() }

    /// Stops any recording, lets the writer finish every queued frame and file, and joins it.
    public func finish() {
        queue.stopRecording()
        queue.beginShutdown()
        writer.join()
    }

    public var snapshot: (counters: RecorderCounters, framesHeld: Int, bytesHeld: Int, oldestMono: Nanos?) { queue.snapshot }

    /// Storage the recordings so far will take (cheap: read once a frame by the storage budget).
    public var recordedBytes: Int64 { queue.recordedBytes }

    /// True while a recording has frames the writer has not finished.
    public var isWriting: Bool { queue.isWriting }
}
