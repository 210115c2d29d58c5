import BodycamEvidence
/// One encoded frame held in the ring: where its bytes are in the arena, and what it is.
public struct RingFrame: Equatable, Sendable {
    public var offset: Int
    public var length: Int
    public var sequence: UInt64
    public var mono: Nanos
    public var utc: Int64
    /// 0: pre-record only (evicted when it ages out). Otherwise the recording it belongs to.
    public var owner: UInt32
    /// Frames the source skipped (gaps in its own sequence numbers) since the frame stored before this one.
    public var sourceSkipped: UInt32 = 0
    /// Set once the writer has put it in a file, or when a pre-record frame is discarded (sleep, dock):
    /// its space can be reused.
    public var written: Bool

    /// Waiting for the writer: must not be evicted.
    public var isPending: Bool { owner != 0 && !written }
}

/// The pre-record buffer and the writer's queue in one: encoded frames in a single preallocated byte
/// arena, in capture order, with a fixed-capacity table of frame descriptors.
///
/// - In `ready` it is a rolling pre-record buffer, bounded by age (`maxAge`) and by bytes (the arena):
///   whole frames are evicted, oldest first.
/// - Starting a recording marks the frames inside the pre-record window as belonging to it; frames
///   captured while recording belong to it too. Such *pending* frames are never evicted: the writer
///   thread writes them straight from the arena (no copy) and then releases them. If pending frames fill
///   the arena the ring refuses new frames (`full`), which the caller counts as drops (live camera) or
///   waits on (virtual clock).
///
/// Frame bytes are always contiguous (a frame that does not fit at the end of the arena goes to the
/// start), so an encoder can write directly into a reservation.
///
/// Not thread-safe: `RecordingQueue` wraps it in a lock. Holding the lock is only needed for these calls, never
/// while bytes are encoded into a reservation or written to disk.
public final class FrameRing {
    public enum Reservation {
        case ok(UnsafeMutableRawBufferPointer)
        /// The frame is larger than the whole arena: it can never fit.
        case tooLarge
        /// Everything left in the ring is waiting for the writer.
        case full
    }

    public struct Counters: Equatable, Sendable {
        /// Pre-record frames that aged out (normal operation).
        public var evictedByAge: UInt64 = 0
        /// Pre-record frames evicted before their time because the byte bound was reached.
        public var evictedForSpace: UInt64 = 0
        /// Frames refused because they are bigger than the arena.
        public var droppedTooLarge: UInt64 = 0
        /// Frames refused because the writer had not yet freed enough space.
        public var droppedFull: UInt64 = 0
    }

    public let arenaBytes: Int
    public let frameCapacity: Int
    public let maxAge: Nanos
    public private(set) var counters = Counters()

    private let arena: UnsafeMutableRawBufferPointer
    private let slots: UnsafeMutableBufferPointer<RingFrame>
    /// Absolute indices: frames tail..<head are held; slot = index % frameCapacity.
    public private(set) var tail: UInt64 = 0
    public private(set) var head: UInt64 = 0
    /// Where the next frame's bytes go if they fit before the end of the arena.
    private var headOffset = 0
    private var reserved: (offset: Int, capacity: Int)?
    /// Recording that new frames belong to (0 when not recording).
    public private(set) var currentOwner: UInt32 = 0
    /// One past the newest frame that belongs to a recording.
    private var markedEnd: UInt64 = 0
    /// The writer's position: frames before it are written or will never be recorded.
    public private(set) var writeCursor: UInt64 = 0
    /// Frames waiting for the writer (they belong to a recording and are not written yet). Kept as frames
    /// change, so waiting for the writer never depends on a scan that itself moves a cursor.
    public private(set) var pendingCount = 0

    /// - Parameters:
    ///   - arenaBytes: the byte bound; allocated here, once.
    ///   - frameCapacity: most frames held at once (descriptor table size).
    ///   - maxAge: pre-record length; frames older than the newest by this much are evicted.
    public init(arenaBytes: Int, frameCapacity: Int, maxAge: Nanos) {
        precondition(arenaBytes > 0 && frameCapacity > 0 && maxAge >= 0)
        self.arenaBytes = arenaBytes
        self.frameCapacity = frameCapacity
        self.maxAge = maxAge
        arena = ArenaMemory.map(bytes: arenaBytes)
        slots = .allocate(capacity: frameCapacity)
        slots.initialize(repeating: RingFrame(offset: 0, length: 0, sequence: 0, mono: 0, utc: 0, owner: 0, written: false))
    }

    deinit {
        ArenaMemory.unmap(arena)
        slots.deallocate()
    }

    public var count: Int { Int(head - tail) }
    public var isEmpty: Bool { head == tail }

    public func frame(at index: UInt64) -> RingFrame {
        precondition(index >= tail && index < head, "frame index out of the ring")
        return slots[Int(index % UInt64(frameCapacity))]
    }

    public func bytes(of frame: RingFrame) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: arena[frame.offset..<(frame.offset + frame.length)])
    }

    /// Bytes held by frames (excluding the unusable gap at the end of the arena when wrapped).
    public var bytesHeld: Int {
        var total = 0
        var i = tail
        while i < head { total += frame(at: i).length; i += 1 }
        return total
    }

    /// The time span of the pre-record frames held (newest - oldest + one frame interval is the footage).
    public var oldestMono: Nanos? { isEmpty ? nil : frame(at: tail).mono }

    // MARK: - Capture side

    /// Finds `byteCount` contiguous bytes for the next frame, evicting pre-record frames oldest first if
    /// needed. The caller writes the frame there and then calls `commit`. A `full` or `tooLarge` answer is
    /// not counted here: the caller decides whether it is a drop (`countDrop`) or a wait.
    public func reserve(_ byteCount: Int) -> Reservation {
        precondition(byteCount > 0)
        guard byteCount <= arenaBytes else { return .tooLarge }
        while true {
            if count < frameCapacity, let offset = contiguousOffset(for: byteCount) {
                reserved = (offset, byteCount)
                return .ok(UnsafeMutableRawBufferPointer(rebasing: arena[offset..<(offset + byteCount)]))
            }
            guard !isEmpty, !frame(at: tail).isPending else { return .full }
            let evicted = popTail()
            if !evicted.written && evicted.owner == 0 { counters.evictedForSpace += 1 }
        }
    }

    /// Records a frame that could not be stored.
    public func countDrop(_ reason: Reservation) {
        switch reason {
        case .tooLarge: counters.droppedTooLarge += 1
        case .full: counters.droppedFull += 1
        case .ok: break
        }
    }

    /// Adds the frame just written into the reservation. `length` may be less than reserved.
    public func commit(length: Int, sequence: UInt64, mono: Nanos, utc: Int64, sourceSkipped: UInt32 = 0) {
        guard let r = reserved else { preconditionFailure("commit without reserve") }
        precondition(length > 0 && length <= r.capacity, "commit length outside the reservation")
        reserved = nil
        slots[Int(head % UInt64(frameCapacity))] = RingFrame(
            offset: r.offset, length: length, sequence: sequence, mono: mono, utc: utc,
            owner: currentOwner, sourceSkipped: sourceSkipped, written: false)
        head += 1
        headOffset = r.offset + length
        if currentOwner != 0 {
            markedEnd = head
            pendingCount += 1
        }
        trim()
        checkInvariants()
    }

    /// Abandons a reservation (the encoder failed); nothing is added.
    public func cancelReservation() { reserved = nil }

    /// Starts recording `owner`: pre-record frames captured at or after `since` become part of it, and so
    /// does every frame committed until `stopRecording`. Returns how many frames were taken from the
    /// pre-record buffer, the capture time of the first, and what they will take on storage.
    @discardableResult
    public func startRecording(owner: UInt32, since: Nanos) -> (frames: Int, firstMono: Nanos?, bytes: Int64) {
        precondition(owner != 0 && owner > currentOwner, "recording numbers increase")
        currentOwner = owner
        var taken = 0
        var bytes: Int64 = 0
        var first: Nanos?
        var i = tail
        while i < head {
            let slot = Int(i % UInt64(frameCapacity))
            if slots[slot].owner == 0 && !slots[slot].written && slots[slot].mono >= since {
                slots[slot].owner = owner
                taken += 1
                bytes += AVILayout.storageBytes(frameLength: slots[slot].length)
                if first == nil { first = slots[slot].mono }
                markedEnd = i + 1
            }
            i += 1
        }
        pendingCount += taken
        checkInvariants()
        return (taken, first, bytes)
    }

    /// Stops adding new frames to the current recording. Returns the index one past its last frame.
    public func stopRecording() -> UInt64 {
        currentOwner = 0
        checkInvariants()
        return head
    }

    /// Drops every pre-record frame (capture stopped: sleep, dock, off). Frames waiting for the writer
    /// stay; discarded frames behind them are released as soon as they reach the tail.
    public func discardPreRecord() {
        var i = tail
        while i < head {
            let slot = Int(i % UInt64(frameCapacity))
            if slots[slot].owner == 0 { slots[slot].written = true }
            i += 1
        }
        trim()
        checkInvariants()
    }

    // MARK: - Writer side

    /// The oldest frame waiting for the writer, if any.
    public func nextPending() -> (index: UInt64, frame: RingFrame)? {
        if writeCursor < tail { writeCursor = tail }
        while writeCursor < head {
            let f = frame(at: writeCursor)
            if f.isPending { return (writeCursor, f) }
            // A pre-record frame older than a recorded one will never be recorded (later recordings
            // start later): skip it. One newer than every recorded frame may still be taken.
            guard f.written || markedEnd > writeCursor else { return nil }
            writeCursor += 1
        }
        return nil
    }

    /// Whether any frame of recording `owner` still waits for the writer. Pure (moves no cursor):
    /// pending frames are in recording order, so only the oldest one needs to be looked at.
    public func hasPending(of owner: UInt32) -> Bool {
        guard pendingCount > 0 else { return false }
        var i = max(writeCursor, tail)
        while i < head {
            let f = frame(at: i)
            if f.isPending { return f.owner == owner }
            i += 1
        }
        return false
    }

    /// The writer has put frame `index` in a file: its space can be reused.
    public func markWritten(_ index: UInt64) {
        let slot = Int(index % UInt64(frameCapacity))
        precondition(index >= tail && index < head && slots[slot].isPending, "markWritten of a frame not pending")
        slots[slot].written = true
        pendingCount -= 1
        if writeCursor <= index { writeCursor = index + 1 }
        trim()
        checkInvariants()
    }

    // MARK: - Internals

    /// Releases written frames and evicts pre-record frames that are too old or were skipped.
    private func trim() {
        guard !isEmpty else { return }
        let newest = frame(at: head - 1).mono
        while !isEmpty {
            let f = frame(at: tail)
            if f.written {
                popTail()
            } else if f.owner == 0 && (tail < writeCursor || f.mono <= newest - maxAge) {
                popTail()
                counters.evictedByAge += 1
            } else {
                break
            }
        }
    }

    @discardableResult
    private func popTail() -> RingFrame {
        let f = frame(at: tail)
        tail += 1
        if isEmpty { headOffset = 0 }
        return f
    }

    private func contiguousOffset(for n: Int) -> Int? {
        if isEmpty { return 0 }
        let tailOffset = frame(at: tail).offset
        if headOffset > tailOffset {
            // Bytes held are [tailOffset, headOffset): free space is at the end, then at the start.
            if arenaBytes - headOffset >= n { return headOffset }
            if tailOffset >= n { return 0 }
            return nil
        }
        // Wrapped: bytes held are [tailOffset, end) and [0, headOffset); free is between.
        return tailOffset - headOffset >= n ? headOffset : nil
    }

    /// Checks the ring's structure after every mutation in debug builds (compiled out in release).
    public func checkInvariants() {
        #if DEBUG
        precondition(tail <= head && count <= frameCapacity, "ring count")
        guard !isEmpty else { precondition(headOffset == 0 && pendingCount == 0, "empty ring resets offsets"); return }
        var wraps = 0
        var previous: RingFrame?
        var i = tail
        var held = 0
        while i < head {
            let f = frame(at: i)
            precondition(f.length > 0 && f.offset >= 0 && f.offset + f.length <= arenaBytes, "frame inside arena")
            if let p = previous {
                precondition(f.sequence > p.sequence && f.mono >= p.mono, "capture order")
                precondition(f.owner == 0 || p.owner == 0 || f.owner >= p.owner, "recordings in order")
                if f.offset != p.offset + p.length {
                    precondition(f.offset == 0, "frames are contiguous or wrap to the start")
                    wraps += 1
                }
            }
            held += f.length
            previous = f
            i += 1
        }
        let first = frame(at: tail)
        precondition(wraps <= 1, "at most one wrap")
        precondition(wraps == 0 || previous!.offset + previous!.length <= first.offset, "no overlap after wrap")
        precondition(previous!.offset + previous!.length == headOffset, "head offset follows newest frame")
        precondition(held <= arenaBytes, "byte bound")
        var pending = 0
        i = tail
        while i < head { if frame(at: i).isPending { pending += 1 }; i += 1 }
        precondition(pending == pendingCount, "pending count")
        if first.owner == 0 && !first.written {
            precondition(first.mono > previous!.mono - maxAge, "age bound")
        }
        #endif
    }
}
