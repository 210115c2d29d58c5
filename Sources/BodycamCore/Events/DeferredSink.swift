import BodycamEvidence
/// Holds the writer thread's events until the capture side prints them (virtual clock), so stdout has the
/// same order on every run. Bounded: when full, the writer prints everything held itself (nothing is lost;
/// only the order can then vary, after more than `capacity` writer events without a capture-side event).
public final class DeferredSink: EventSink, @unchecked Sendable {
    public static let capacity = 1024
    private let target: EventSink
    private let lock = ConditionLock()
    private var held: [Event] = []

    public init(target: EventSink) {
        self.target = target
        held.reserveCapacity(Self.capacity)
    }

    public func emit(_ event: Event) {
        lock.withLock {
            held.append(event)
            if held.count >= Self.capacity { printHeld() }
        }
    }

    /// Prints what is held, in the order it came.
    public func flush() { lock.withLock { printHeld() } }

    // With the lock held, so two flushes never interleave.
    private func printHeld() {
        for e in held { target.emit(e) }
        held.removeAll(keepingCapacity: true)
    }
}
