import BodycamEvidence
/// Durations as people type them: `250ms`, `3s`, `1.5s`, `2m`, `1h`, and combinations like `1h30m`
/// or `2m30s`. Used by options and scripts.
public enum DurationText {
    static let units: [String: Double] = ["ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9]
    /// Longer than any sensible simulation; also keeps the arithmetic far from overflow.
    static let limit: Double = 366 * 86_400e9

    public static func parse(_ text: String) -> Nanos? {
        var total = 0.0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            // Digits and at most one point; no signs, exponents or "nan".
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, let v = Double(number),
                  let scale = units[String(unit)] else { return nil }
            total += v * scale
        }
        guard total <= limit else { return nil }
        return Nanos(total.rounded())
    }

    /// The short form people type: `121s`, `500ms`, `1.5s` (whole seconds or milliseconds when exact).
    public static func format(_ n: Nanos) -> String {
        if n % Nanos.perSecond == 0 { return "\(n / Nanos.perSecond)s" }
        if n % Nanos.perMillisecond == 0 && abs(n) < Nanos.perSecond { return "\(n / Nanos.perMillisecond)ms" }
        return "\(Double(n) / Double(Nanos.perSecond))s"
    }
}
