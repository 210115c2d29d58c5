import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif
/// The hot path: take a frame from the source, burn the overlay into it and JPEG-encode it (raw formats)
/// or stamp it (MJPEG passthrough) into the ring's arena, and commit it. Nothing here allocates: the stamp
/// text, the device id bytes and the encoders' buffers are all set up in `init`.
///
/// With one encoder the capture thread encodes each frame straight into its reservation in the ring.
/// With several (`EncoderPool`), it stamps and dispatches frames to the workers and commits them to the
/// ring in capture order as they finish, so the ring, the stamps and every counter come out the same,
/// byte for byte, whatever the number of workers. `drain()` commits everything in flight; the runtime
/// calls it (through `CameraRuntime.run`) before anything reads or changes what the ring holds.
public final class FramePath {
    public struct Counters: Equatable, Sendable {
        public var captured: UInt64 = 0
        public var stored: UInt64 = 0
        /// Frames the ring could not take (see the recorder's ring counters for why).
        public var notStored: UInt64 = 0
        public var encodeErrors: UInt64 = 0
        /// MJPEG frames that were not a whole JPEG (no SOI/EOI, too short).
        public var invalidJPEG: UInt64 = 0
        /// Gaps in the source's sequence numbers: frames the source itself lost.
        public var sourceGaps: UInt64 = 0
        /// Frames the driver flagged as damaged.
        public var damaged: UInt64 = 0
        /// Real clock: frames dropped because every encoder worker was busy (capture does not wait).
        public var encodersBusy: UInt64 = 0
    }

    public let source: FrameSource
    public let recorder: Recorder
    public private(set) var counters = Counters()
    /// Camera time to UTC; changed by a clock sync.
    public var utc: UTCMapping

    /// The capture thread's own encoder (one worker); nil for MJPEG or with a pool.
    private let encoder: JPEGEncoder?
    /// Encoder workers (two or more); nil otherwise.
    private let pool: EncoderPool?
    /// Virtual clock: a frame waits for a worker instead of being dropped (deterministic).
    private let waitsForEncoders: Bool
    /// Source gaps of frames dropped after dispatch: they go with the next frame stored.
    private var carriedSourceGaps: UInt64 = 0
    /// The time stamp burnt into raw frames before encoding (nil: off, or MJPEG).
    public let overlay: FrameOverlay?
    /// Live viewers' copy of each stored frame (`--http`); set before capture starts, nil without it.
    public var liveTap: LiveFrameTap?
    /// Where a frame from a source whose buffers are read-only is copied to be stamped (preallocated).
    private let scratch: UnsafeMutableRawBufferPointer?
    private let maxFrameBytes: Int
    private let deviceID: UnsafeMutableRawBufferPointer
    private let stamp: UnsafeMutableRawBufferPointer
    /// The officer stamped on every frame (preallocated; set rarely, at the dock, on this same thread).
    private let officerBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 1)
    private var officerLength = 0
    public var officer: String? {
        didSet {
            let b = Array((officer ?? "").utf8.prefix(officerBytes.count))
            officerBytes.copyBytes(from: b)
            officerLength = b.count
        }
    }
    private var nextSequence: UInt64 = 0
    private var lastSourceSequence: UInt64?
    /// Source gaps not yet handed to the recorder with a stored frame (they go with the next one).
    private var unreportedSourceGaps: UInt64 = 0

    /// - Parameters:
    ///   - overlay: the clock of the time stamp burnt into raw frames; nil for none.
    ///   - encoders: encoder workers for raw frames. 1: the capture thread encodes. More need a source that
    ///     lets at least 3 frames out (`framesOutLimit`); with fewer, the capture thread encodes.
    public init?(source: FrameSource, recorder: Recorder, deviceID: String, quality: Int, utc: UTCMapping,
                 overlay: OverlayTime? = nil, encoders: Int = 1) {
        guard FrameStamp.isValidDeviceID(deviceID) else { return nil }
        self.source = source
        self.recorder = recorder
        self.utc = utc
        let geometry = source.geometry
        let drawn = overlay.flatMap { FrameOverlay(geometry: geometry, time: $0) }
        self.overlay = drawn
        let readOnlyCopy = drawn != nil && !source.framesAreWritable ? geometry.rawFrameBytes : nil
        // One slot per worker and one more, so a worker can start a frame before the last is collected;
        // and one frame more out of the source than slots: the one looked at while all slots are full.
        let slots = min(encoders + 1, source.framesOutLimit - 1)
        if geometry.format == .mjpeg {
            encoder = nil
            pool = nil
        } else if encoders >= 2 && slots >= 2 {
            guard let p = EncoderPool(geometry: geometry, quality: quality, workers: min(encoders, slots), slots: slots,
                                      scratchBytes: readOnlyCopy) else { return nil }
            encoder = nil
            pool = p
        } else {
            guard let e = JPEGEncoder(geometry: geometry, quality: quality) else { return nil }
            encoder = e
            pool = nil
        }
        waitsForEncoders = recorder.settings.backPressure == .wait
        maxFrameBytes = geometry.maxEncodedFrameBytes
        scratch = pool == nil ? readOnlyCopy.map { .allocate(byteCount: $0, alignment: 64) } : nil
        let idBytes = Array(deviceID.utf8)
        self.deviceID = .allocate(byteCount: idBytes.count, alignment: 1)
        self.deviceID.copyBytes(from: idBytes)
        stamp = .allocate(byteCount: FrameStamp.capacity, alignment: 1)
    }

    deinit {
        pool?.stop() // the workers finish with the source's buffers while the source is still here
        deviceID.deallocate()
        stamp.deallocate()
        officerBytes.deallocate()
        scratch?.deallocate()
    }

    /// The camera's own frame sequence number of the next stored frame (continuous across recordings).
    public var sequence: UInt64 { nextSequence }

    /// Heap fallbacks inside libjpeg (0 in steady state).
    public var encoderHeapFallbacks: UInt64 { encoder?.heapFallbacks ?? pool?.heapFallbacks ?? 0 }

    /// Encoders at work on raw frames: 0 for MJPEG passthrough, 1 when the capture thread encodes.
    public var encoderWorkers: Int { pool?.workers ?? (encoder == nil ? 0 : 1) }
    /// Bytes the workers' frames in flight take (allocated at start-up; 0 with one encoder).
    public var encoderSlotBytes: Int { pool?.slotBytes ?? 0 }

    /// Starts streaming (again). A restarted source may number its frames afresh: no gap is counted.
    public func startCapture() throws(FrameSourceError) {
        lastSourceSequence = nil
        unreportedSourceGaps = 0
        try source.start()
    }

    /// Captures one frame and stores it (one encoder) or dispatches it (workers: it is stored when its turn
    /// comes, at a later step or `drain`). Returns its capture time, or nil at the end of the source.
    public func step() throws(FrameSourceError) -> Nanos? {
        if let pool {
            collect(from: pool, waiting: false)
            // Virtual clock: the frame waits for a worker. Either clock: the source may not let another out.
            while pool.inFlight > 0 && ((waitsForEncoders && pool.isFull) || pool.inFlight + 1 > source.framesOutLimit) {
                collectOldest(from: pool, waiting: true)
            }
        }
        let next: CapturedFrame?
        do { next = try source.nextFrame() } catch {
            drain() // a lost camera is stopped (its buffers unmapped) next: nothing may still be encoding them
            throw error
        }
        guard let frame = next else { return nil }
        counters.captured += 1
        if let last = lastSourceSequence, frame.sequence > last &+ 1 {
            counters.sourceGaps &+= frame.sequence - last - 1
            unreportedSourceGaps &+= frame.sequence - last - 1
        }
        lastSourceSequence = frame.sequence
        if frame.isDamaged {
            counters.damaged += 1
            source.releaseFrame(frame)
        } else if let pool {
            dispatch(frame, to: pool)
        } else {
            store(frame)
            source.releaseFrame(frame)
        }
        return frame.mono
    }

    /// Stores every frame still with the workers, in order (nothing to do with one encoder).
    public func drain() {
        guard let pool else { return }
        collect(from: pool, waiting: true)
    }

    // MARK: - Workers

    private func collect(from pool: EncoderPool, waiting: Bool) {
        while collectOldest(from: pool, waiting: waiting) {}
    }

    /// Stores the oldest frame in flight if it is encoded (or, `waiting`, once it is). False: none was.
    @discardableResult
    private func collectOldest(from pool: EncoderPool, waiting: Bool) -> Bool {
        guard let slot = waiting ? pool.waitForOldest() : pool.oldestIfDone() else { return false }
        commit(slot)
        source.releaseFrame(slot.frame)
        pool.retireOldest()
        return true
    }

    /// Stamps the frame (numbered as if every frame in flight is stored), burns in the overlay, and hands
    /// it to a worker. Real clock: with every worker busy the frame is dropped, never queued unboundedly.
    private func dispatch(_ frame: CapturedFrame, to pool: EncoderPool) {
        guard !pool.isFull else {
            counters.encodersBusy += 1
            source.releaseFrame(frame)
            return
        }
        let slot = pool.nextSlot
        slot.frame = frame
        slot.utc = utc.utc(frame.mono)
        slot.sequence = nextSequence + UInt64(pool.inFlight)
        slot.sourceGaps = unreportedSourceGaps
        unreportedSourceGaps = 0
        slot.stampLength = writeStamp(of: frame, sequence: slot.sequence, utc: slot.utc, into: slot.stamp)
        slot.input = burnOverlay(into: frame, utc: slot.utc, copy: slot.scratch)
        pool.dispatch()
    }

    /// Puts an encoded frame in the ring, with the same checks in the same order as `store`: a reservation
    /// first (the same size, so the ring evicts the same frames), then the encoder's result.
    private func commit(_ slot: EncoderPool.Slot) {
        let gaps = carriedSourceGaps + slot.sourceGaps
        carriedSourceGaps = gaps
        guard let space = recorder.reserve(maxFrameBytes) else { counters.notStored += 1; return }
        guard let length = slot.length,
              // A frame before it was dropped after this one was stamped: renumber it (same length).
              slot.sequence == nextSequence || renumber(slot, length: length) else {
            recorder.cancelReservation()
            counters.encodeErrors += 1
            return
        }
        space.baseAddress!.copyMemory(from: slot.output.baseAddress!, byteCount: length)
        stored(UnsafeRawBufferPointer(rebasing: space[0..<length]), mono: slot.frame.mono, utc: slot.utc, sourceSkipped: gaps)
        carriedSourceGaps = 0
    }

    /// Rewrites the stamp's sequence number inside the encoded frame, where the encoder put the COM segment
    /// (within the first bytes, after SOI and the JFIF header).
    private func renumber(_ slot: EncoderPool.Slot, length: Int) -> Bool {
        let stamp = slot.comment
        let window = min(length, 1024)
        guard stamp.count > 0, window >= stamp.count else { return false }
        var at = 0
        while at + stamp.count <= window {
            if memcmp(slot.output.baseAddress! + at, stamp.baseAddress!, stamp.count) == 0 {
                let found = UnsafeMutableRawBufferPointer(rebasing: slot.output[at..<(at + stamp.count)])
                return FrameStamp.rewriteSequence(in: found, deviceIDLength: deviceID.count, to: nextSequence)
            }
            at += 1
        }
        return false
    }

    private func store(_ frame: CapturedFrame) {
        let utcNow = utc.utc(frame.mono)
        let comment = UnsafeRawBufferPointer(rebasing: stamp[0..<writeStamp(of: frame, sequence: nextSequence, utc: utcNow, into: stamp)])

        let needed: Int
        var input = frame.bytes // what is encoded or copied
        if encoder == nil {
            guard JPEGMarkers.isComplete(frame.bytes), let n = JPEGMarkers.completeLength(frame.bytes) else {
                counters.invalidJPEG += 1
                return
            }
            input = UnsafeRawBufferPointer(rebasing: frame.bytes[0..<n]) // without USB zero padding
            needed = n + 4 + comment.count
        } else {
            needed = maxFrameBytes
        }
        guard let space = recorder.reserve(needed) else { counters.notStored += 1; return }
        let length: Int
        if let encoder {
            input = burnOverlay(into: frame, utc: utcNow, copy: scratch)
            do {
                length = try encoder.encode(input, comment: comment, into: space)
            } catch {
                recorder.cancelReservation()
                counters.encodeErrors += 1
                return
            }
        } else {
            guard let n = JPEGMarkers.copyInsertingComment(input, comment: comment, into: space) else {
                recorder.cancelReservation()
                counters.invalidJPEG += 1
                return
            }
            length = n
        }
        stored(UnsafeRawBufferPointer(rebasing: space[0..<length]), mono: frame.mono, utc: utcNow, sourceSkipped: unreportedSourceGaps)
        unreportedSourceGaps = 0
    }

    // MARK: - Shared by both paths

    private var officerStamp: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: officerBytes[0..<officerLength]) }

    /// Writes the frame's stamp (device, camera and source numbers, UTC, officer) into `buffer`; returns its length.
    private func writeStamp(of frame: CapturedFrame, sequence: UInt64, utc: Int64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var w = ASCIIWriter(buffer)
        FrameStamp.write(deviceID: UnsafeRawBufferPointer(deviceID), sequence: sequence, sourceSequence: frame.sequence,
                         utc: utc, mono: frame.mono, officer: officerStamp, to: &w)
        return w.count
    }

    /// Burns the time stamp into a raw frame before it is encoded: in the source's buffer, or in `copy` when
    /// the source's buffers are read-only. Returns what to encode (the frame as is when there is no overlay,
    /// or the frame is short: the encoder then refuses it).
    private func burnOverlay(into frame: CapturedFrame, utc: Int64, copy: UnsafeMutableRawBufferPointer?) -> UnsafeRawBufferPointer {
        let n = source.geometry.rawFrameBytes
        guard let overlay, frame.bytes.count >= n else { return frame.bytes }
        let target: UnsafeMutableRawBufferPointer
        if let copy {
            copy.baseAddress!.copyMemory(from: frame.bytes.baseAddress!, byteCount: n)
            target = UnsafeMutableRawBufferPointer(rebasing: copy[0..<n])
        } else {
            target = UnsafeMutableRawBufferPointer(mutating: frame.bytes)
        }
        overlay.draw(into: target, utc: utc, deviceID: UnsafeRawBufferPointer(deviceID), officer: officerStamp)
        return copy == nil ? frame.bytes : UnsafeRawBufferPointer(target)
    }

    /// Commits the frame now in its reservation (`jpeg`: the exact bytes stored) with the next camera number.
    private func stored(_ jpeg: UnsafeRawBufferPointer, mono: Nanos, utc: Int64, sourceSkipped: UInt64) {
        // The exact bytes the recording stores, while they are still this thread's reservation.
        liveTap?.offer(jpeg, mono: mono)
        recorder.commit(length: jpeg.count, sequence: nextSequence, mono: mono, utc: utc,
                        sourceSkipped: UInt32(clamping: sourceSkipped))
        nextSequence += 1
        counters.stored += 1
    }
}
