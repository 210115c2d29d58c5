/// UTC calendar arithmetic without Foundation or the heap: the frame path stamps every frame with its
/// date and time, so formatting must not allocate.
public enum UTC {
    public struct Civil: Equatable, Sendable {
        public var year, month, day, hour, minute, second, millisecond: Int
    }

    /// Splits nanoseconds since the Unix epoch into calendar fields (proleptic Gregorian, UTC). Total on
    /// Int64: the extremes are 1677-09-21 and 2262-04-11, so every intermediate stays far inside Int64.
    public static func civil(_ nanos: Int64) -> Civil {
        let millis = floorDiv(nanos, 1_000_000)
        let secs = floorDiv(millis, 1000)
        let days = floorDiv(secs, 86_400)
        let sod = Int(secs - days * 86_400)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return Civil(year: Int(y), month: Int(m), day: Int(d), hour: sod / 3600, minute: sod / 60 % 60,
                     second: sod % 60, millisecond: Int(millis - secs * 1000))
    }

    /// Nanoseconds since the epoch for calendar fields (inverse of `civil`). The fields must be in range
    /// (years 1970-2261 as `parse` checks): this is arithmetic, not validation.
    public static func nanos(_ c: Civil) -> Int64 {
        let y = Int64(c.month <= 2 ? c.year - 1 : c.year)
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = Int64(c.month > 2 ? c.month - 3 : c.month + 9)
        let doy = (153 * mp + 2) / 5 + Int64(c.day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let secs = days * 86_400 + Int64(c.hour * 3600 + c.minute * 60 + c.second)
        return (secs * 1000 + Int64(c.millisecond)) * 1_000_000
    }

    /// Earliest and latest instants `parse` and `parseCompact` accept: 1970-01-01T00:00:00.000Z to
    /// 2261-12-31T23:59:59.999Z. Int64 nanoseconds end on 2262-04-11; stopping at the last whole year
    /// keeps every accepted date (and a day or two of arithmetic on it) far from overflow. Earlier dates
    /// are never written by the camera.
    public static let earliest: Int64 = 0
    public static let latest: Int64 = 9_214_646_399_999_000_000
    static let years = 1970...2261

    /// Parses `YYYY-MM-DDTHH:MM:SS[.mmm]Z` (the form this project writes). Nil if malformed or outside
    /// `earliest...latest`.
    public static func parse(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { b -> Int64? in
            guard b.count == 20 || b.count == 24, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
                  b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
                  b[b.count - 1] == UInt8(ascii: "Z") else { return nil }
            var ms: Int? = 0
            if b.count == 24 { ms = b[19] == UInt8(ascii: ".") ? number(b, 20, 3) : nil }
            return fields(year: number(b, 0, 4), month: number(b, 5, 2), day: number(b, 8, 2), hour: number(b, 11, 2),
                          minute: number(b, 14, 2), second: number(b, 17, 2), millisecond: ms)
        }
    }

    /// Parses the compact form of file names, `20260101T080004.100Z`. Same range as `parse`.
    public static func parseCompact(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { b -> Int64? in
            guard b.count == 20, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "."), b[19] == UInt8(ascii: "Z") else {
                return nil
            }
            return fields(year: number(b, 0, 4), month: number(b, 4, 2), day: number(b, 6, 2), hour: number(b, 9, 2),
                          minute: number(b, 11, 2), second: number(b, 13, 2), millisecond: number(b, 16, 3))
        }
    }

    /// At most 4 ASCII digits (no sign): cannot overflow.
    private static func number(_ b: UnsafeBufferPointer<UInt8>, _ from: Int, _ len: Int) -> Int? {
        var v = 0
        for i in from..<(from + len) {
            guard b[i] >= 48, b[i] <= 57 else { return nil }
            v = v * 10 + Int(b[i] - 48)
        }
        return v
    }

    /// Range-checks every field before any arithmetic, then rejects dates like 02-31 that would roll over.
    private static func fields(year: Int?, month: Int?, day: Int?, hour: Int?, minute: Int?, second: Int?,
                               millisecond: Int?) -> Int64? {
        guard let y = year, let mo = month, let d = day, let h = hour, let mi = minute, let s = second,
              let ms = millisecond, years.contains(y), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60,
              s < 60, ms < 1000 else { return nil }
        let c = Civil(year: y, month: mo, day: d, hour: h, minute: mi, second: s, millisecond: ms)
        let n = nanos(c)
        return civil(n) == c ? n : nil
    }

    /// `2026-01-01T08:00:04.100Z` (24 bytes).
    public static func writeISO(_ nanos: Int64, to w: inout ASCIIWriter) {
        let c = civil(nanos)
        w.digits(c.year, 4); w.byte("-"); w.digits(c.month, 2); w.byte("-"); w.digits(c.day, 2)
        w.byte("T"); w.digits(c.hour, 2); w.byte(":"); w.digits(c.minute, 2); w.byte(":")
        w.digits(c.second, 2); w.byte("."); w.digits(c.millisecond, 3); w.byte("Z")
    }

    /// `20260101T080004.100Z`: sorts in time order and is safe in file names.
    public static func writeCompact(_ nanos: Int64, to w: inout ASCIIWriter) {
        let c = civil(nanos)
        w.digits(c.year, 4); w.digits(c.month, 2); w.digits(c.day, 2); w.byte("T")
        w.digits(c.hour, 2); w.digits(c.minute, 2); w.digits(c.second, 2); w.byte(".")
        w.digits(c.millisecond, 3); w.byte("Z")
    }

    public static func iso(_ nanos: Int64) -> String { ASCIIWriter.string(capacity: 32) { writeISO(nanos, to: &$0) } }
    public static func compact(_ nanos: Int64) -> String {
        ASCIIWriter.string(capacity: 32) { writeCompact(nanos, to: &$0) }
    }

    /// Division rounding towards minus infinity, for any `a` (negating `a` trapped at Int64.min). `b` > 0.
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return a % b < 0 ? q - 1 : q
    }
}

/// Appends ASCII into caller-owned memory. Writes past the end are dropped and flagged, never a crash.
public struct ASCIIWriter {
    public let base: UnsafeMutableRawBufferPointer
    public private(set) var count = 0
    public private(set) var overflowed = false

    public init(_ base: UnsafeMutableRawBufferPointer) { self.base = base }

    @inline(__always) public mutating func byte(_ b: UInt8) {
        guard count < base.count else { overflowed = true; return }
        base[count] = b
        count += 1
    }
    @inline(__always) public mutating func byte(_ s: Unicode.Scalar) { byte(UInt8(ascii: s)) }
    public mutating func text(_ s: StaticString) {
        s.withUTF8Buffer { for b in $0 { byte(b) } }
    }
    public mutating func bytes(_ b: UnsafeRawBufferPointer) { for x in b { byte(x) } }

    /// Zero-padded decimal with exactly `width` digits (the low digits if the value is wider).
    public mutating func digits(_ value: Int, _ width: Int) {
        var v = value < 0 ? 0 : value
        guard count + width <= base.count else { overflowed = true; return }
        var i = count + width - 1
        while i >= count {
            base[i] = UInt8(48 + v % 10)
            v /= 10
            i -= 1
        }
        count += width
    }

    /// For tests and start-up code only: formats into a temporary buffer and makes a String.
    public static func string(capacity: Int, _ body: (inout ASCIIWriter) -> Void) -> String {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer { buffer.deallocate() }
        var w = ASCIIWriter(buffer)
        body(&w)
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<w.count]), as: UTF8.self)
    }
}
