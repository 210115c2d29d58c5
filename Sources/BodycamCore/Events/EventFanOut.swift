import BodycamEvidence

/// Every event to the sink it wraps (stdout) and, as the same JSON line, to each subscriber (the live
/// page's event streams). Emitting never waits for a subscriber: each has a bounded queue that loses its
/// oldest lines when full and counts them, so a slow reader learns how many it missed.
public final class EventFanOut: EventSink, @unchecked Sendable { // `subscribers` is guarded by `lock`
    public let base: EventSink
    public let maxSubscribers: Int
    private let lock = ConditionLock()
    private var subscribers: [EventSubscription] = []

    public init(base: EventSink, maxSubscribers: Int) {
        self.base = base
        self.maxSubscribers = maxSubscribers
    }

    public func emit(_ event: Event) {
        base.emit(event)
        let listening = lock.withLock { !subscribers.isEmpty }
        guard listening else { return } // no second serialization when nobody reads
        broadcast(event.jsonLine)
    }

    /// A line for subscribers only (the live status, which is not a stdout event).
    public func broadcast(_ line: String) {
        lock.withLock { for s in subscribers { s.push(line) } }
    }

    /// A new subscriber with a queue of `capacity` lines; nil when `maxSubscribers` are already reading.
    public func subscribe(capacity: Int = EventSubscription.defaultCapacity) -> EventSubscription? {
        lock.withLock {
            guard subscribers.count < maxSubscribers else { return nil }
            let s = EventSubscription(capacity: capacity) { [weak self] s in self?.remove(s) }
            subscribers.append(s)
            return s
        }
    }

    public var subscriberCount: Int { lock.withLock { subscribers.count } }

    /// Ends every subscription (shutdown): their readers see the end of the stream.
    public func finishAll() {
        let all = lock.withLock { () -> [EventSubscription] in
            defer { subscribers.removeAll() }
            return subscribers
        }
        for s in all { s.finish() }
    }

    private func remove(_ s: EventSubscription) {
        lock.withLock { subscribers.removeAll { $0 === s } }
    }
}

/// One reader's bounded queue of event lines.
public final class EventSubscription: @unchecked Sendable { // `dropped` is guarded by `lock`
    public static let defaultCapacity = 256
    /// Lines in arrival order; when full, the oldest go (`AsyncStream`'s own bounded buffer).
    public let lines: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation
    private let lock = ConditionLock()
    private var dropped: UInt64 = 0
    private let onEnd: (EventSubscription) -> Void

    init(capacity: Int, onEnd: @escaping (EventSubscription) -> Void) {
        (lines, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(capacity))
        self.onEnd = onEnd
    }

    func push(_ line: String) {
        if case .dropped = continuation.yield(line) { lock.withLock { dropped += 1 } }
    }

    /// Lines lost since the last call (the reader reports them before its next line).
    public func takeDropped() -> UInt64 {
        lock.withLock {
            defer { dropped = 0 }
            return dropped
        }
    }

    /// Ends the stream (the reader's loop ends once it has taken what is queued).
    public func finish() { continuation.finish() }

    /// The reader is gone: stop queueing for it.
    public func cancel() {
        continuation.finish()
        onEnd(self)
    }
}
