import BodycamCore
import BodycamEvidence
import NIOCore

/// The bounded set of long-lived answers (MJPEG viewers, event streams): a slot per answer, refused when
/// all are taken, and each connection's channel kept so shutdown can close them all at once, a viewer
/// stuck on a full socket included.
final class ViewerSlots: @unchecked Sendable { // guarded by `lock`
    let limit: Int
    private let lock = ConditionLock()
    private var open: [ObjectIdentifier: any Channel] = [:]
    private var closing = false

    init(limit: Int) { self.limit = limit }

    /// Takes a slot for `channel`; false when all are taken or the server is stopping.
    func take(_ channel: any Channel) -> Bool {
        lock.withLock {
            guard !closing, open.count < limit, open[ObjectIdentifier(channel)] == nil else { return false }
            open[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func release(_ channel: any Channel) {
        _ = lock.withLock { open.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    var count: Int { lock.withLock { open.count } }

    /// Refuses new viewers and closes every open one's connection (its pending write fails at once).
    func closeAll() {
        let channels = lock.withLock { () -> [any Channel] in
            closing = true
            return Array(open.values)
        }
        for c in channels { c.close(promise: nil) }
    }
}
