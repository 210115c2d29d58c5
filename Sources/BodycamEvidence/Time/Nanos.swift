/// Monotonic time in nanoseconds since the clock started (CLOCK_MONOTONIC-like: never jumps).
public typealias Nanos = Int64

public extension Nanos {
    static let perSecond: Nanos = 1_000_000_000
    static let perMillisecond: Nanos = 1_000_000
}
