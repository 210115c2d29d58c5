import BodycamEvidence

/// Encoder workers for raw frames (`--encoders N`, N >= 2): MJPEG frames are all key frames, so several
/// frames can be encoded at once. Each worker thread has its own libjpeg compressor; each job slot holds
/// one frame from dispatch to collection: the source's frame, its stamp, and the encoded bytes.
///
/// Only the capture thread dispatches and collects, oldest first, so the ring, the counters and the
/// source see frames in capture order, exactly as with one encoder. The lock is held only to hand a slot
/// over; never while encoding. Everything is allocated in `init`.
final class EncoderPool: @unchecked Sendable {
    /// One frame in flight. Filled by the capture thread before `dispatch`, encoded by one worker, read
    /// back by the capture thread after `waitForOldest`/`oldestIfDone`.
    final class Slot {
        var frame = CapturedFrame(bytes: UnsafeRawBufferPointer(start: nil, count: 0), mono: 0, sequence: 0)
        /// What is encoded: the frame's bytes, or this slot's copy when the overlay cannot draw in place.
        var input = UnsafeRawBufferPointer(start: nil, count: 0)
        let stamp: UnsafeMutableRawBufferPointer
        var stampLength = 0
        /// The camera sequence number written into the stamp.
        var sequence: UInt64 = 0
        var utc: Int64 = 0
        /// Source gaps since the frame dispatched before this one.
        var sourceGaps: UInt64 = 0
        let output: UnsafeMutableRawBufferPointer
        /// A copy of a read-only frame for the overlay (nil when frames are writable or there is no overlay).
        let scratch: UnsafeMutableRawBufferPointer?
        /// The encoded length; nil when encoding failed.
        var length: Int?
        fileprivate var done = false

        init(outputBytes: Int, scratchBytes: Int?) {
            stamp = .allocate(byteCount: FrameStamp.capacity, alignment: 1)
            output = .allocate(byteCount: outputBytes, alignment: 64)
            scratch = scratchBytes.map { .allocate(byteCount: $0, alignment: 64) }
        }

        deinit {
            stamp.deallocate()
            output.deallocate()
            scratch?.deallocate()
        }

        var comment: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: stamp[0..<stampLength]) }
    }

    let slots: [Slot]
    private let encoders: [JPEGEncoder]
    private let lock = ConditionLock()
    private let jobReady = Condition()
    private let jobDone = Condition()
    /// Counters of slots, in capture order: dispatched ..< issued are in flight; taken ..< issued wait for
    /// a worker. Slot of job k: slots[k % count].
    private var issued: UInt64 = 0
    private var taken: UInt64 = 0
    /// Capture thread only: the oldest job not yet collected.
    private var collected: UInt64 = 0
    private var stopping = false
    private var threads: [OSThread] = []

    /// Bytes of the slots' buffers (reported at start-up; each compressor adds under 1 MiB of its own).
    let slotBytes: Int

    /// - Parameters:
    ///   - workers: encoder threads (each with its own compressor).
    ///   - slots: frames in flight at most (at least `workers`; one more lets a worker start the next frame
    ///     before the capture thread has collected the last).
    ///   - scratchBytes: per-slot copy for a read-only source's frames when the overlay draws (nil: none).
    init?(geometry: FrameGeometry, quality: Int, workers: Int, slots: Int, scratchBytes: Int?) {
        precondition(workers >= 1 && slots >= workers)
        var encoders: [JPEGEncoder] = []
        for _ in 0..<workers {
            guard let e = JPEGEncoder(geometry: geometry, quality: quality) else { return nil }
            encoders.append(e)
        }
        self.encoders = encoders
        let outputBytes = geometry.maxEncodedFrameBytes
        self.slots = (0..<slots).map { _ in Slot(outputBytes: outputBytes, scratchBytes: scratchBytes) }
        slotBytes = slots * (outputBytes + FrameStamp.capacity + (scratchBytes ?? 0))
        threads = encoders.map { encoder in OSThread { [unowned self] in self.work(encoder) } }
    }

    deinit { stop() }

    /// Joins the workers (after the jobs in flight are encoded).
    func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast(jobReady)
        }
        threads.forEach { $0.join() }
        threads = []
    }

    var workers: Int { encoders.count }
    var inFlight: Int { Int(issued &- collected) } // `issued` only moves on the capture thread
    var isFull: Bool { inFlight == slots.count }

    /// The slot the next dispatched frame goes in (fill it, then `dispatch`). Only when not `isFull`.
    var nextSlot: Slot { slots[Int(issued % UInt64(slots.count))] }
    /// The slot of the oldest job not yet collected (in flight when `inFlight > 0`).
    private var oldest: Slot { slots[Int(collected % UInt64(slots.count))] }

    /// Hands `nextSlot` to the workers.
    func dispatch() {
        precondition(!isFull)
        lock.withLock {
            nextSlot.done = false
            issued += 1
            lock.broadcast(jobReady)
        }
    }

    /// The oldest slot in flight, if a worker has finished it.
    func oldestIfDone() -> Slot? {
        guard inFlight > 0 else { return nil }
        let slot = oldest
        return lock.withLock { slot.done } ? slot : nil
    }

    /// Waits for the oldest slot in flight (nil when none is).
    func waitForOldest() -> Slot? {
        guard inFlight > 0 else { return nil }
        let slot = oldest
        lock.withLock { while !slot.done { lock.wait(jobDone) } }
        return slot
    }

    /// The oldest slot has been collected: it may be filled again.
    func retireOldest() {
        precondition(inFlight > 0)
        collected += 1
    }

    /// Times libjpeg's per-image memory fell back to malloc, over every worker (0 in steady state).
    var heapFallbacks: UInt64 { encoders.reduce(0) { $0 + $1.heapFallbacks } }

    private func work(_ encoder: JPEGEncoder) {
        lock.lock()
        while true {
            while taken == issued && !stopping { lock.wait(jobReady) }
            if taken == issued { break } // stopping, and nothing left
            let slot = slots[Int(taken % UInt64(slots.count))]
            taken += 1
            lock.unlock()
            slot.length = try? encoder.encode(slot.input, comment: slot.comment, into: slot.output)
            lock.lock()
            slot.done = true
            lock.broadcast(jobDone)
        }
        lock.unlock()
    }
}
