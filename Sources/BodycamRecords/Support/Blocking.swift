import Dispatch
import Foundation

/// Runs blocking work (hashing a segment, fsync, reading a blob) on a thread of its own and awaits it, so
/// the Swift concurrency pool that serves requests (two threads on two cores) is never held by disk I/O.
/// Not Dispatch's global queues: on Linux they run about one thread per core, so two slow fsyncs would
/// hold up every status request behind them. At most `slots` run at once; the rest wait on their own thread.
public enum Blocking {
    private static let slots = DispatchSemaphore(value: 32)

    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                slots.wait()
                defer { slots.signal() }
                continuation.resume(with: Result { try work() })
            }
            thread.start()
        }
    }
}
