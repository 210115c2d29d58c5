import BodycamEvidence
/// The control script's lines, read on their own thread and stamped with the camera's monotonic time as
/// they arrive, so a line typed (or piped) while the frame path is busy keeps the time it was given. The
/// runner takes them from a bounded queue; the reader waits while it is full.
public final class ScriptInput: @unchecked Sendable {
    /// A line (or the reader's other answers) and when it arrived, in camera time.
    public struct Stamped {
        public var next: LineReader.Next
        public var arrived: Nanos
    }

    public static let capacity = 64
    /// How often the reader thread looks for a stop request while no input comes.
    static let pollInterval: Nanos = 100 * Nanos.perMillisecond

    private let queue = BoundedQueue<Stamped>(capacity: ScriptInput.capacity)
    private let stopLock = ConditionLock()
    private var stopped = false
    private var thread: OSThread?
    private let clock: CameraClock

    public init(reader: LineReader, clock: CameraClock) {
        self.clock = clock
        thread = OSThread { [queue, unowned self] in
            while !self.isStopped {
                let next = reader.next(timeout: Self.pollInterval)
                if next == .nothingYet { continue }
                // Real clock: the moment it arrived (a virtual clock is not read here: lines take their
                // time from the commands before them).
                let arrived = clock.isVirtual ? 0 : clock.now
                guard queue.push(Stamped(next: next, arrived: arrived)), next != .endOfInput else { return }
            }
        }
    }

    /// The line number of lines that did not come from the script (the live page's buttons).
    public static let injectedLineNumber = 0

    /// Queues a line from elsewhere (the live page) as if it had been typed now: stamped with the camera's
    /// time on arrival, carried out and reported (`error` events) by the runner like any line. Never waits:
    /// false when the queue is full or closed.
    public func inject(_ text: String) -> Bool {
        queue.tryPush(Stamped(next: .line(text, number: Self.injectedLineNumber), arrived: clock.isVirtual ? 0 : clock.now))
    }

    private var isStopped: Bool { stopLock.withLock { stopped } }

    public enum Taken {
        case input(Stamped)
        /// Nothing arrived within the timeout.
        case nothingYet
    }

    /// The next line, waiting at most `timeout` (nil: until one comes). After the end of input (or
    /// `close`) it keeps saying `.endOfInput`.
    public func next(timeout: Nanos?) -> Taken {
        switch queue.pop(timeout: timeout) {
        case .item(let s): return .input(s)
        case .timedOut: return .nothingYet
        case .closed: return .input(Stamped(next: .endOfInput, arrived: 0))
        }
    }

    /// Stops the reader thread (within `pollInterval`) and waits for it.
    public func close() {
        stopLock.withLock { stopped = true }
        queue.close()
        thread?.join()
        thread = nil
    }
}
