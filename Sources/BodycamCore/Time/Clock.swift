import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif


/// The time source every timed part of the camera reads. Logic never calls `sleep` or reads the wall
/// clock itself: it asks the injected clock, so the same code runs in real time or as fast as possible.
public protocol CameraClock: AnyObject, Sendable {
    /// Monotonic now.
    var now: Nanos { get }
    /// Blocks (real) or jumps (virtual) until `deadline`.
    func sleep(until deadline: Nanos)
    /// True when time only moves because the simulation moves it (synthetic or file frames).
    var isVirtual: Bool { get }
}

/// Simulated time: it advances only when a frame source (or script) says so, so an hour runs in seconds
/// and every rerun sees exactly the same times.
public final class VirtualClock: CameraClock, @unchecked Sendable {
    // Written only by the capture thread; other threads read it for reporting.
    private var current: Nanos
    public init(start: Nanos = 0) { current = start }
    public var now: Nanos { current }
    public func sleep(until deadline: Nanos) { if deadline > current { current = deadline } }
    public var isVirtual: Bool { true }
}

/// Real time, from CLOCK_MONOTONIC, relative to when the clock was made.
public final class MonotonicClock: CameraClock, @unchecked Sendable {
    /// CLOCK_MONOTONIC at camera time zero (V4L2 timestamps are on this clock).
    public let origin: Nanos
    public init() { origin = MonotonicClock.raw() }
    public var now: Nanos { MonotonicClock.raw() - origin }
    public var isVirtual: Bool { false }

    public func sleep(until deadline: Nanos) {
        var target = timespec()
        let absolute = deadline + origin
        target.tv_sec = Int(absolute / Nanos.perSecond)
        target.tv_nsec = Int(absolute % Nanos.perSecond)
        // clock_nanosleep returns EINTR when a signal arrives; sleep again until the deadline.
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nil) == EINTR {}
    }

    /// CLOCK_MONOTONIC in nanoseconds; also the time base of V4L2 buffer timestamps.
    public static func raw() -> Nanos {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Nanos(ts.tv_sec) * Nanos.perSecond + Nanos(ts.tv_nsec)
    }
}

/// Maps monotonic camera time to UTC. The offset is the camera's idea of "wall time at monotonic zero";
/// a dock clock sync changes it, monotonic time never jumps.
public struct UTCMapping: Sendable, Equatable {
    /// Nanoseconds since the Unix epoch at monotonic time zero.
    public var utcAtZero: Int64
    public init(utcAtZero: Int64) { self.utcAtZero = utcAtZero }
    public func utc(_ mono: Nanos) -> Int64 { utcAtZero + mono }

    /// The wall clock now, for real-time runs.
    public static func wallClockNow(monoNow: Nanos) -> UTCMapping {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UTCMapping(utcAtZero: Int64(ts.tv_sec) * Nanos.perSecond + Int64(ts.tv_nsec) - monoNow)
    }
}
