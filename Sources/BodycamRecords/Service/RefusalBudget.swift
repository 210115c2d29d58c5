import Foundation

/// How many refusals the custody log takes one by one: a token bucket (60 at once, then one a second).
/// Refusals come from requests nobody has authenticated, so without a budget anyone who reaches the port
/// could grow the log until the store is full and cameras are turned away. Refusals over the budget are
/// counted, and the count goes into the next refusal that is logged, so none goes unmentioned.
final class RefusalBudget: @unchecked Sendable { // all state under `lock`
    private let lock = NSLock()
    private let capacity: Double
    private let perSecond: Double
    private var tokens: Double
    private var lastUTC: Int64?
    private var suppressed = 0
    private var suppressedSinceUTC: Int64 = 0

    init(capacity: Int = 60, perSecond: Double = 1) {
        self.capacity = Double(capacity)
        self.perSecond = perSecond
        tokens = Double(capacity)
    }

    /// Whether this refusal is logged now, and how many earlier ones (since when) were only counted.
    func take(utc: Int64) -> (log: Bool, suppressed: Int, sinceUTC: Int64) {
        lock.lock()
        defer { lock.unlock() }
        if let last = lastUTC, utc > last { tokens = min(capacity, tokens + Double(utc - last) / 1e9 * perSecond) }
        lastUTC = max(lastUTC ?? utc, utc)
        guard tokens >= 1 else {
            if suppressed == 0 { suppressedSinceUTC = utc }
            suppressed += 1
            return (false, 0, 0)
        }
        tokens -= 1
        defer { suppressed = 0 }
        return (true, suppressed, suppressedSinceUTC)
    }
}
