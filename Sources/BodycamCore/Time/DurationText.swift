/// Durations as people type them: `250ms`, `3s`, `1.5s`, `2m`, `1h`. Used by options and scripts.
public enum DurationText {
    public static func parse(_ text: String) -> Nanos? {
        let units: [(String, Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            // Digits and at most one point; no signs, exponents or "nan".
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                  number.filter({ $0 == "." }).count <= 1, let v = Double(number) else { return nil }
            let nanos = v * scale
            guard nanos <= 366 * 86_400e9 else { return nil }
            return Nanos(nanos.rounded())
        }
        return nil
    }

    /// `90s` -> "1m30s"-style text is not needed; events use seconds as numbers.
    public static func seconds(_ n: Nanos) -> Double { Double(n) / 1e9 }
}
