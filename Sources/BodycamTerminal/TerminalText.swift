/// Text made safe and measured for a terminal. Everything shown comes from data the camera does not
/// control (officer ids, error messages, file names, script lines): a control character or an escape
/// sequence in it could move the cursor, retitle the window or hide what follows, so none reaches the screen.
public enum TerminalText {
    /// `text` with every control character (C0, DEL, C1: ESC, CSI, BEL, CR, LF, TAB...) and bidirectional
    /// override replaced by `?`: one line, printed as it reads.
    public static func printable(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars { out.append(isShown(s) ? s : "?") }
        return String(out)
    }

    /// Whether a scalar may reach the terminal as it is.
    static func isShown(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x20 || (0x7F...0x9F).contains(v) { return false }
        // Bidirectional overrides and isolates reorder what follows them on screen.
        if (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) { return false }
        return true
    }

    /// Columns a scalar takes: 0 for combining marks and zero-width characters, 2 for East Asian wide and
    /// emoji, else 1. An approximation of wcwidth, enough to never overrun the width.
    static func columns(_ s: Unicode.Scalar) -> Int {
        let v = s.value
        if (0x0300...0x036F).contains(v) || (0x200B...0x200F).contains(v) || (0xFE00...0xFE0F).contains(v) { return 0 }
        if (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
            || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1FAFF).contains(v) || (0x20000...0x3FFFD).contains(v) {
            return 2
        }
        return 1
    }

    /// Columns `text` takes on screen.
    public static func width(_ text: String) -> Int { text.unicodeScalars.reduce(0) { $0 + columns($1) } }

    /// The longest start of `text` that fits in `width` columns; cut text ends in `…`.
    public static func fit(_ text: String, width: Int) -> String {
        guard width > 0 else { return "" }
        if Self.width(text) <= width { return text }
        var out = String.UnicodeScalarView()
        var used = 0
        for s in text.unicodeScalars {
            let c = columns(s)
            if used + c > width - 1 { break }
            out.append(s)
            used += c
        }
        out.append("…")
        return String(out)
    }
}
