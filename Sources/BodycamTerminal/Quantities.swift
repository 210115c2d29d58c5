import BodycamEvidence

/// Numbers as a person reads them: bytes in decimal units (as disks are sold), times as a clock or in
/// words. Pure, no Foundation.
public enum Quantities {
    static let units = ["B", "kB", "MB", "GB", "TB"]

    /// `512 B`, `41.2 GB`, `1.5 TB`: one decimal below 100 of a unit, none above.
    public static func bytes(_ n: Int64) -> String {
        let (value, unit) = scaled(n)
        return "\(value) \(unit)"
    }

    /// `1.2/2.7 GB`: both in the unit of `total`.
    public static func bytes(_ done: Int64, of total: Int64) -> String {
        let (t, unit) = scaled(total)
        let divisor = power(unitIndex(total))
        return "\(decimal(Double(max(0, done)) / divisor, unitIndex(total) == 0))/\(t) \(unit)"
    }

    /// `40 MB/s`.
    public static func rate(_ bytesPerSecond: Int64) -> String { bytes(bytesPerSecond) + "/s" }

    /// `00:01:23` (hours go past 99 if they must).
    public static func clock(_ nanos: Nanos) -> String {
        let s = max(0, nanos) / Nanos.perSecond
        return "\(two(s / 3600)):\(two(s / 60 % 60)):\(two(s % 60))"
    }

    /// `38 s`, `2 min 5 s`, `1 h 3 min`.
    public static func duration(seconds: Double) -> String {
        let s = Int64(max(0, seconds).rounded(.up))
        if s < 60 { return "\(s) s" }
        if s < 3600 { return s % 60 == 0 ? "\(s / 60) min" : "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \(s / 60 % 60) min"
    }

    /// `08:00:12` of a UTC instant (nanoseconds).
    public static func timeOfDay(_ utcNanos: Int64) -> String {
        let c = UTC.civil(utcNanos)
        return "\(two(Int64(c.hour))):\(two(Int64(c.minute))):\(two(Int64(c.second)))"
    }

    static func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static func unitIndex(_ n: Int64) -> Int {
        var i = 0
        var v = Double(max(0, n))
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return i
    }

    static func power(_ i: Int) -> Double { (0..<i).reduce(1.0) { r, _ in r * 1000 } }

    static func scaled(_ n: Int64) -> (String, String) {
        let i = unitIndex(n)
        let v = Double(n) / power(i)
        return (decimal(v, i == 0), units[i])
    }

    /// One decimal below 100 (none for whole bytes, none above, none when it is 0: `40`, not `40.0`).
    static func decimal(_ v: Double, _ whole: Bool) -> String {
        if whole || abs(v) >= 100 { return "\(Int64(v.rounded()))" }
        let tenths = Int64((v * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(abs(tenths % 10))"
    }

    /// `1 file`, `3 files`.
    public static func count(_ n: Int64, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
}
