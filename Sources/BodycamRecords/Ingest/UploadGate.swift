import BodycamEvidence
import Synchronization

/// How many uploads (chunks, finishes) one node works on at once. A request over the limit waits a moment
/// for a place, then is answered 503 with a `Retry-After`: at shift change a hundred cameras docking at one
/// node are each answered while they still wait, instead of all being served slowly past their timeouts.
/// Counted: `refused` answers so far, for the service's log and tests.
public final class UploadGate: Sendable {
    public let limit: Int
    let waitMilliseconds: Int
    let retryAfterSeconds: UInt32
    private let state = Mutex((working: 0, refused: 0))

    public init(limit: Int = 16, waitMilliseconds: Int = 2000, retryAfterSeconds: UInt32 = 5) {
        (self.limit, self.waitMilliseconds, self.retryAfterSeconds) = (max(1, limit), max(0, waitMilliseconds), retryAfterSeconds)
    }

    public var refused: Int { state.withLock { $0.refused } }
    public var working: Int { state.withLock { $0.working } }

    public func run<T>(_ body: () async throws -> T) async throws -> T {
        var waited = 0
        while !admit() {
            guard waited < waitMilliseconds else {
                state.withLock { $0.refused += 1 }
                throw Refusal(.busy, "this records node is taking \(limit) uploads at once; send again in \(retryAfterSeconds) s",
                              retryAfter: retryAfterSeconds)
            }
            try? await Task.sleep(for: .milliseconds(25))
            waited += 25
        }
        defer { state.withLock { $0.working -= 1 } }
        return try await body()
    }

    private func admit() -> Bool {
        state.withLock { s in
            guard s.working < limit else { return false }
            s.working += 1
            return true
        }
    }
}
