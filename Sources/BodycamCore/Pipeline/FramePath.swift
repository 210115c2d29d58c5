import BodycamEvidence
/// The hot path, one frame at a time: take a frame from the source, burn the overlay into it and
/// JPEG-encode it (raw formats) or stamp it (MJPEG passthrough) straight into the ring's arena, and commit it. Nothing here allocates:
/// the stamp text, the device id bytes and the encoder's buffers are all set up in `init`.
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
    }

    public let source: FrameSource
    public let recorder: Recorder
    public private(set) var counters = Counters()
    /// Camera time to UTC; changed by a clock sync.
    public var utc: UTCMapping

    private let encoder: JPEGEncoder?
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

    /// - Parameter overlay: the clock of the time stamp burnt into raw frames; nil for none.
    public init?(source: FrameSource, recorder: Recorder, deviceID: String, quality: Int, utc: UTCMapping,
                 overlay: OverlayTime? = nil) {
        guard FrameStamp.isValidDeviceID(deviceID) else { return nil }
        self.source = source
        self.recorder = recorder
        self.utc = utc
        if source.geometry.format == .mjpeg {
            encoder = nil
        } else {
            guard let e = JPEGEncoder(geometry: source.geometry, quality: quality) else { return nil }
            encoder = e
        }
        maxFrameBytes = source.geometry.maxEncodedFrameBytes
        let drawn = overlay.flatMap { FrameOverlay(geometry: source.geometry, time: $0) }
        self.overlay = drawn
        scratch = drawn != nil && !source.framesAreWritable
            ? .allocate(byteCount: source.geometry.rawFrameBytes, alignment: 64) : nil
        let idBytes = Array(deviceID.utf8)
        self.deviceID = .allocate(byteCount: idBytes.count, alignment: 1)
        self.deviceID.copyBytes(from: idBytes)
        stamp = .allocate(byteCount: FrameStamp.capacity, alignment: 1)
    }

    deinit {
        deviceID.deallocate()
        stamp.deallocate()
        officerBytes.deallocate()
        scratch?.deallocate()
    }

    /// The camera's own frame sequence number of the next stored frame (continuous across recordings).
    public var sequence: UInt64 { nextSequence }

    /// Heap fallbacks inside libjpeg (0 in steady state).
    public var encoderHeapFallbacks: UInt64 { encoder?.heapFallbacks ?? 0 }

    /// Starts streaming (again). A restarted source may number its frames afresh: no gap is counted.
    public func startCapture() throws(FrameSourceError) {
        lastSourceSequence = nil
        unreportedSourceGaps = 0
        try source.start()
    }

    /// Captures and stores one frame. Returns its capture time, or nil at the end of the source.
    public func step() throws(FrameSourceError) -> Nanos? {
        guard let frame = try source.nextFrame() else { return nil }
        defer { source.releaseFrame() }
        counters.captured += 1
        if let last = lastSourceSequence, frame.sequence > last &+ 1 {
            counters.sourceGaps &+= frame.sequence - last - 1
            unreportedSourceGaps &+= frame.sequence - last - 1
        }
        lastSourceSequence = frame.sequence
        if frame.isDamaged {
            counters.damaged += 1
        } else {
            store(frame)
        }
        return frame.mono
    }

    private func store(_ frame: CapturedFrame) {
        let utcNow = utc.utc(frame.mono)
        var w = ASCIIWriter(stamp)
        FrameStamp.write(deviceID: UnsafeRawBufferPointer(deviceID), sequence: nextSequence,
                         sourceSequence: frame.sequence, utc: utcNow, mono: frame.mono,
                         officer: UnsafeRawBufferPointer(rebasing: officerBytes[0..<officerLength]), to: &w)
        let comment = UnsafeRawBufferPointer(rebasing: stamp[0..<w.count])

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
            if let overlay, frame.bytes.count >= source.geometry.rawFrameBytes {
                // Burnt in before encoding: in the source's buffer, or in a copy when that is read-only.
                let target: UnsafeMutableRawBufferPointer
                if let scratch {
                    let n = source.geometry.rawFrameBytes
                    scratch.baseAddress!.copyMemory(from: frame.bytes.baseAddress!, byteCount: n)
                    target = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<n])
                    input = UnsafeRawBufferPointer(target)
                } else {
                    target = UnsafeMutableRawBufferPointer(mutating: frame.bytes)
                }
                overlay.draw(into: target, utc: utcNow, deviceID: UnsafeRawBufferPointer(deviceID),
                             officer: UnsafeRawBufferPointer(rebasing: officerBytes[0..<officerLength]))
            }
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
        // The exact bytes the recording stores, while they are still this thread's reservation.
        liveTap?.offer(UnsafeRawBufferPointer(rebasing: space[0..<length]), mono: frame.mono)
        recorder.commit(length: length, sequence: nextSequence, mono: frame.mono, utc: utcNow,
                        sourceSkipped: UInt32(clamping: unreportedSourceGaps))
        unreportedSourceGaps = 0
        nextSequence += 1
        counters.stored += 1
    }
}
