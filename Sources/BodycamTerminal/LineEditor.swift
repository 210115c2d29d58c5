/// The prompt's line editing, as a value: key bytes in, the line being typed and submitted lines out. Pure
/// (the console feeds it what it reads from the terminal and draws `text`/`cursor`), so every key is a
/// plain unit test.
///
/// Keys: printable UTF-8 inserts; Backspace (DEL or ^H) deletes before the cursor; ^D deletes under it, or
/// on an empty line ends the input; ^U deletes to the start, ^K to the end, ^W the word before; Left/Right
/// (and ^B/^F), Home/End (and ^A/^E) move; Up/Down walk the history; Enter submits. Other control bytes
/// and escape sequences are ignored (nothing typed reaches the screen or the script unfiltered).
public struct LineEditor: Sendable {
    public enum Outcome: Equatable, Sendable {
        case submitted(String)
        case endOfInput
    }

    public private(set) var text: [Unicode.Scalar] = []
    /// Position in `text` (0...text.count) where the next character goes.
    public private(set) var cursor = 0
    public private(set) var history: [String] = []
    /// Longest line accepted, in bytes (the script reader's limit).
    public let maxBytes: Int

    private var historyIndex: Int?  // the entry shown by Up/Down; nil: the line being typed
    private var draft: [Unicode.Scalar] = []
    private var pending: [UInt8] = []  // an incomplete UTF-8 sequence
    private var escape: [UInt8]?       // an escape sequence being read
    static let historyLimit = 100

    public init(maxBytes: Int = 1024) { self.maxBytes = maxBytes }

    public var line: String { String(String.UnicodeScalarView(text)) }

    /// Feeds bytes read from the terminal; returns the lines they completed, in order.
    public mutating func feed(_ bytes: [UInt8]) -> [Outcome] {
        var out: [Outcome] = []
        for b in bytes { if let o = feed(b) { out.append(o) } }
        return out
    }

    public mutating func feed(_ byte: UInt8) -> Outcome? {
        if escape != nil { return readEscape(byte) }
        if !pending.isEmpty || byte >= 0x80 { return readUTF8(byte) }
        switch byte {
        case 0x0D, 0x0A: return submit()
        case 0x04:  // ^D
            if text.isEmpty { return .endOfInput }
            if cursor < text.count { text.remove(at: cursor) }
        case 0x7F, 0x08:  // Backspace
            if cursor > 0 { text.remove(at: cursor - 1); cursor -= 1 }
        case 0x15:  // ^U
            text.removeSubrange(0..<cursor); cursor = 0
        case 0x0B:  // ^K
            text.removeSubrange(cursor...)
        case 0x17:  // ^W: the spaces before the cursor, then the word
            var start = cursor
            while start > 0 && text[start - 1] == " " { start -= 1 }
            while start > 0 && text[start - 1] != " " { start -= 1 }
            text.removeSubrange(start..<cursor); cursor = start
        case 0x01: cursor = 0                              // ^A
        case 0x05: cursor = text.count                     // ^E
        case 0x02: cursor = max(0, cursor - 1)             // ^B
        case 0x06: cursor = min(text.count, cursor + 1)    // ^F
        case 0x1B: escape = []
        case 0x20...0x7E: insert(Unicode.Scalar(byte))
        default: break  // other control bytes: ignored
        }
        return nil
    }

    private mutating func submit() -> Outcome {
        let submitted = line
        if !submitted.isEmpty && history.last != submitted {
            history.append(submitted)
            if history.count > Self.historyLimit { history.removeFirst() }
        }
        text = []
        cursor = 0
        historyIndex = nil
        return .submitted(submitted)
    }

    private mutating func insert(_ s: Unicode.Scalar) {
        // Printable only: C1 controls and the like never get into the line.
        guard TerminalText.isShown(s), line.utf8.count + String(s).utf8.count <= maxBytes else { return }
        text.insert(s, at: cursor)
        cursor += 1
    }

    private mutating func readUTF8(_ byte: UInt8) -> Outcome? {
        // A byte that cannot continue the sequence starts over (a lone continuation byte is dropped).
        if !pending.isEmpty && byte & 0xC0 != 0x80 {
            pending = []
            return feed(byte)
        }
        if pending.isEmpty && byte & 0xC0 == 0x80 { return nil }
        pending.append(byte)
        let lead = pending[0]
        let needed = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        guard pending.count >= needed else { return nil }
        var decoder = UTF8()
        var it = pending.makeIterator()
        if case .scalarValue(let s) = decoder.decode(&it) { insert(s) }
        pending = []
        return nil
    }

    /// ESC [ A..D, ESC [ H/F, ESC [ n ~, ESC O x: arrows, Home/End, Delete; anything else is swallowed.
    private mutating func readEscape(_ byte: UInt8) -> Outcome? {
        guard var seq = escape else { return nil }
        seq.append(byte)
        escape = seq
        if seq.count == 1 {
            if byte != UInt8(ascii: "[") && byte != UInt8(ascii: "O") { escape = nil }  // Alt-key: ignored
            return nil
        }
        // Parameters and intermediates continue the sequence; a final byte (0x40-0x7E) ends it.
        guard (0x40...0x7E).contains(byte) || seq.count > 16 else { return nil }
        escape = nil
        let params = String(decoding: seq.dropFirst().dropLast(), as: UTF8.self)
        switch (byte, params) {
        case (UInt8(ascii: "D"), _): cursor = max(0, cursor - 1)
        case (UInt8(ascii: "C"), _): cursor = min(text.count, cursor + 1)
        case (UInt8(ascii: "H"), _): cursor = 0
        case (UInt8(ascii: "F"), _): cursor = text.count
        case (UInt8(ascii: "A"), _): recall(-1)
        case (UInt8(ascii: "B"), _): recall(+1)
        case (UInt8(ascii: "~"), "3"): if cursor < text.count { text.remove(at: cursor) }
        case (UInt8(ascii: "~"), "1"), (UInt8(ascii: "~"), "7"): cursor = 0
        case (UInt8(ascii: "~"), "4"), (UInt8(ascii: "~"), "8"): cursor = text.count
        default: break
        }
        return nil
    }

    private mutating func recall(_ step: Int) {
        guard !history.isEmpty else { return }
        let current = historyIndex ?? history.count
        let next = min(max(0, current + step), history.count)
        if historyIndex == nil { draft = text }
        historyIndex = next == history.count ? nil : next
        text = historyIndex.map { Array(history[$0].unicodeScalars) } ?? draft
        cursor = text.count
    }

    /// What to show in `width` columns after the prompt: a window of the line that holds the cursor, and
    /// the cursor's column in it.
    public func visible(width: Int) -> (text: String, cursorColumn: Int) {
        guard width > 1 else { return ("", 0) }
        // Start as late as needed for the cursor (and one cell after it) to fit.
        var start = 0
        func span(_ from: Int, _ to: Int) -> Int { text[from..<to].reduce(0) { $0 + TerminalText.columns($1) } }
        while start < cursor && span(start, cursor) + 1 > width { start += 1 }
        var end = start
        var used = 0
        while end < text.count && used + TerminalText.columns(text[end]) <= width - 1 {
            used += TerminalText.columns(text[end])
            end += 1
        }
        return (String(String.UnicodeScalarView(text[start..<end])), span(start, cursor))
    }
}
