#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time as the evidence format counts it: nanoseconds since the Unix epoch, UTC.
public enum WallClock {
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// "7d", "12h", "30m", "45s": a whole number and one unit, for token lifetimes.
public enum Lifetime {
    public static func parse(_ text: String) -> Int64? {
        guard let unit = text.last, text.count >= 2, text.count <= 8 else { return nil }
        let digits = text.dropLast()
        guard digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int64(digits), n >= 1 else { return nil }
        let seconds: Int64
        switch unit {
        case "d": seconds = 86_400
        case "h": seconds = 3600
        case "m": seconds = 60
        case "s": seconds = 1
        default: return nil
        }
        // At most ten years: keeps the arithmetic far from overflow.
        guard n * seconds <= 3650 * 86_400 else { return nil }
        return n * seconds * 1_000_000_000
    }
}
