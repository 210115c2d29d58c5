import BodycamEvidence
/// A fixed-capacity FIFO between two threads (script lines from the reader thread to the runner).
/// Storage is allocated once; `push` waits while it is full, `pop` waits (up to a timeout) while empty.
/// `close` ends both sides: pushes are refused and pops drain what is left, then say so.
public final class BoundedQueue<Element>: @unchecked Sendable {
    public let capacity: Int
    private let lock = ConditionLock()
    private let notEmpty = Condition()
    private let notFull = Condition()
    private var items: [Element?]
    private var first = 0
    private var count = 0
    private var closed = false

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        items = Array(repeating: nil, count: capacity)
    }

    /// Adds `item`, waiting while the queue is full. False if the queue was closed.
    @discardableResult
    public func push(_ item: Element) -> Bool {
        lock.withLock {
            while count == capacity && !closed { lock.wait(notFull) }
            guard !closed else { return false }
            items[(first + count) % capacity] = item
            count += 1
            lock.broadcast(notEmpty)
            return true
        }
    }

    /// Adds `item` if there is room, never waiting. False if the queue is full or closed.
    public func tryPush(_ item: Element) -> Bool {
        lock.withLock {
            guard count < capacity && !closed else { return false }
            items[(first + count) % capacity] = item
            count += 1
            lock.broadcast(notEmpty)
            return true
        }
    }

    public enum Popped {
        case item(Element)
        case timedOut
        /// Closed and drained: nothing more will come.
        case closed
    }

    /// The oldest item, waiting at most `timeout` (nil: until there is one or the queue is closed).
    public func pop(timeout: Nanos?) -> Popped {
        lock.withLock {
            if count == 0 && !closed {
                if let timeout { lock.wait(notEmpty, timeout: timeout) } else {
                    while count == 0 && !closed { lock.wait(notEmpty) }
                }
            }
            guard count > 0 else { return closed ? .closed : .timedOut }
            let item = items[first]!
            items[first] = nil
            first = (first + 1) % capacity
            count -= 1
            lock.broadcast(notFull)
            return .item(item)
        }
    }

    public func close() {
        lock.withLock {
            closed = true
            lock.broadcast(notEmpty)
            lock.broadcast(notFull)
        }
    }
}
