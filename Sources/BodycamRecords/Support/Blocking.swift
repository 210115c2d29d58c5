import Dispatch

/// Runs blocking work (hashing a segment, fsync, reading a blob) on a Dispatch thread and awaits it, so
/// the Swift concurrency pool that serves requests (two threads on two cores) is never held by disk I/O.
public enum Blocking {
    private static let queue = DispatchQueue(label: "bodycam-records.blocking", attributes: .concurrent)

    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
