import BodycamEvidence
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The newest encoded frame, for live viewers (`bodycam run --http`): one preallocated slot the frame path
/// copies each JPEG into (the same bytes the recording stores, overlay and stamp included), and viewers
/// copy out of. The camera never waits for a viewer:
///
/// - with no viewer subscribed the frame path does nothing but one atomic load;
/// - otherwise it takes the slot's lock with `ConditionLock.tryLock`: busy (a viewer is copying) means the
///   frame is skipped and counted (`skipped`), never waited for;
/// - a viewer holds the lock only for one `memcpy` into its own buffer, never across I/O.
///
/// Nothing is allocated after `init`.
public final class LiveFrameTap: @unchecked Sendable { // the slot is guarded by `lock`, counters are atomic
    /// The largest frame the slot holds (the geometry's largest encoded frame).
    public let capacity: Int
    private let slot: UnsafeMutableRawBufferPointer
    private let lock = ConditionLock()
    // Guarded by `lock`: the frame in the slot.
    private var length = 0
    private var number: UInt64 = 0
    private var mono: Nanos = 0

    private let subscribers = Atomic<Int>(0)
    private let published = Atomic<UInt64>(0)
    private let skipped = Atomic<UInt64>(0)
    private let viewerSkipped = Atomic<UInt64>(0)

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        slot = .allocate(byteCount: capacity, alignment: 64)
        // Touched now, so the first frame published does not page-fault the slot in on the capture thread.
        slot.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        slot.deallocate()
    }

    // MARK: - Frame path (capture thread)

    /// Offers one encoded frame. Cheap when nobody watches; never blocks.
    @inline(__always)
    public func offer(_ jpeg: UnsafeRawBufferPointer, mono: Nanos) {
        guard subscribers.load(ordering: .relaxed) > 0 else { return }
        publish(jpeg, mono: mono)
    }

    private func publish(_ jpeg: UnsafeRawBufferPointer, mono frameMono: Nanos) {
        guard jpeg.count <= capacity, let base = jpeg.baseAddress, lock.tryLock() else {
            skipped.add(1, ordering: .relaxed)
            return
        }
        slot.baseAddress!.copyMemory(from: base, byteCount: jpeg.count)
        length = jpeg.count
        number &+= 1
        mono = frameMono
        lock.unlock()
        published.add(1, ordering: .releasing)
    }

    // MARK: - Viewers (any thread)

    /// A viewer starts watching: frames are published from the next one on.
    public func subscribe() { subscribers.add(1, ordering: .relaxed) }
    public func unsubscribe() { subscribers.subtract(1, ordering: .relaxed) }

    /// The number of the newest frame published (0: none yet); frames are numbered 1, 2, ... as published.
    public var newest: UInt64 { published.load(ordering: .acquiring) }

    /// A frame copied out of the slot.
    public struct Copied: Equatable, Sendable {
        public var number: UInt64
        public var length: Int
        /// Its capture time (camera clock).
        public var mono: Nanos
    }

    /// Copies the newest frame into `buffer` (at least `capacity` bytes) if its number is above `after`;
    /// nil when there is none newer. The lock is held for the copy only.
    public func copyNewest(after: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Copied? {
        precondition(buffer.count >= capacity, "a viewer's buffer holds the largest frame")
        guard newest > after else { return nil }
        return lock.withLock {
            guard number > after, length > 0 else { return nil }
            buffer.baseAddress!.copyMemory(from: slot.baseAddress!, byteCount: length)
            return Copied(number: number, length: length, mono: mono)
        }
    }

    /// A viewer went past `count` published frames without sending them (it was slower than the camera).
    public func noteViewerSkipped(_ count: UInt64) {
        if count > 0 { viewerSkipped.add(count, ordering: .relaxed) }
    }

    /// Holds the slot's lock while `body` runs, as a viewer copying would (tests: the frame path must skip).
    func holdingSlot(_ body: () -> Void) { lock.withLock(body) }

    public struct Counters: Equatable, Sendable {
        /// Frames copied into the slot.
        public var published: UInt64
        /// Frames not copied because a viewer was copying the slot at that moment (or too large).
        public var skipped: UInt64
        /// Published frames viewers did not send because they were slower than the camera.
        public var viewerSkipped: UInt64
        /// Viewers subscribed now.
        public var viewers: Int
    }

    public var counters: Counters {
        Counters(published: published.load(ordering: .relaxed), skipped: skipped.load(ordering: .relaxed),
                 viewerSkipped: viewerSkipped.load(ordering: .relaxed), viewers: subscribers.load(ordering: .relaxed))
    }

    /// The counters as event fields (`stats`, `status`, the live page).
    public var fields: [(String, JSON)] {
        let c = counters
        return [("live_frames_published", .int(Int64(c.published))), ("live_frames_skipped", .int(Int64(c.skipped))),
                ("live_viewer_frames_skipped", .int(Int64(c.viewerSkipped))), ("live_viewers", .int(Int64(c.viewers)))]
    }
}
