/// The little XML S3 answers with (errors, listings, lock settings), read into a tree. Written here rather
/// than taken from libxml2 because the input comes from the network and must be parsed totally: a document
/// type (and so any entity expansion) is refused, depth and element count are bounded, every malformed
/// input is a thrown `S3XML.Malformed` with the offset, never a trap. Namespaces are dropped (`s3:Code` is `Code`).
public struct S3XML: Sendable, Equatable {
    public var name: String
    /// The element's own text (character data directly inside it), entities decoded.
    public var text: String
    public var children: [S3XML]

    public struct Malformed: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public static let maxDepth = 32
    public static let maxElements = 100_000
    public static let maxBytes = 8 << 20

    public func child(_ name: String) -> S3XML? { children.first { $0.name == name } }
    public func all(_ name: String) -> [S3XML] { children.filter { $0.name == name } }
    /// The text of the first child called `name`.
    public func value(_ name: String) -> String? { child(name)?.text }

    public static func parse(_ bytes: [UInt8]) throws(Malformed) -> S3XML {
        var p = Parser(b: bytes)
        return try p.document()
    }

    private struct Parser {
        let b: [UInt8]
        var i = 0
        var elements = 0

        init(b: [UInt8]) { self.b = b }

        func fail(_ what: String) -> Malformed { Malformed(description: "malformed XML at byte \(i): \(what)") }

        func starts(_ s: String) -> Bool {
            let u = Array(s.utf8)
            return i + u.count <= b.count && b[i..<(i + u.count)].elementsEqual(u)
        }

        mutating func skip(past s: String) throws(Malformed) {
            let u = Array(s.utf8)
            while i + u.count <= b.count {
                if b[i..<(i + u.count)].elementsEqual(u) { i += u.count; return }
                i += 1
            }
            throw fail("unterminated (no \(s))")
        }

        mutating func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 } }

        /// Declarations, comments and processing instructions before or after the root.
        mutating func skipMisc() throws(Malformed) {
            while true {
                skipSpace()
                if starts("<?") { try skip(past: "?>") } else if starts("<!--") { try skip(past: "-->") } else if starts("<!") {
                    throw fail("document types and declarations are refused")
                } else { return }
            }
        }

        mutating func document() throws(Malformed) -> S3XML {
            guard b.count <= S3XML.maxBytes else { throw Malformed(description: "XML document larger than \(S3XML.maxBytes) bytes") }
            if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
            try skipMisc()
            guard i < b.count, b[i] == UInt8(ascii: "<") else { throw fail("no root element") }
            let root = try element(depth: 1)
            try skipMisc()
            guard i == b.count else { throw fail("content after the root element") }
            return root
        }

        static func isNameByte(_ c: UInt8) -> Bool {
            (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 45 || c == 46 || c == 58 || c == 95 || c >= 0x80
        }

        mutating func name() throws(Malformed) -> String {
            let start = i
            while i < b.count, Self.isNameByte(b[i]) { i += 1 }
            guard i > start, i - start <= 256 else { throw fail("bad element or attribute name") }
            guard let s = String(validating: b[start..<i], as: UTF8.self) else { throw fail("name is not UTF-8") }
            return s
        }

        static func local(_ qualified: String) -> String {
            if let colon = qualified.lastIndex(of: ":") { return String(qualified[qualified.index(after: colon)...]) }
            return qualified
        }

        mutating func element(depth: Int) throws(Malformed) -> S3XML {
            guard depth <= S3XML.maxDepth else { throw fail("nested deeper than \(S3XML.maxDepth)") }
            elements += 1
            guard elements <= S3XML.maxElements else { throw fail("more than \(S3XML.maxElements) elements") }
            i += 1 // '<'
            let qualified = try name()
            // Attributes: read (quoted values may hold '>') and dropped; S3 puts nothing we need in them.
            while true {
                skipSpace()
                guard i < b.count else { throw fail("unterminated start tag <\(qualified)>") }
                if b[i] == UInt8(ascii: "/") {
                    guard i + 1 < b.count, b[i + 1] == UInt8(ascii: ">") else { throw fail("bad empty-element tag") }
                    i += 2
                    return S3XML(name: Self.local(qualified), text: "", children: [])
                }
                if b[i] == UInt8(ascii: ">") { i += 1; break }
                _ = try name()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "=") else { throw fail("attribute without a value") }
                i += 1
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") else { throw fail("unquoted attribute value") }
                let quote = b[i]
                i += 1
                while i < b.count, b[i] != quote { i += 1 }
                guard i < b.count else { throw fail("unterminated attribute value") }
                i += 1
            }
            var text: [UInt8] = []
            var children: [S3XML] = []
            while true {
                guard i < b.count else { throw fail("unterminated element <\(qualified)>") }
                let c = b[i]
                if c == UInt8(ascii: "<") {
                    if starts("</") {
                        i += 2
                        let closing = try name()
                        guard closing == qualified else { throw fail("</\(closing.prefix(40))> closes <\(qualified.prefix(40))>") }
                        skipSpace()
                        guard i < b.count, b[i] == UInt8(ascii: ">") else { throw fail("bad end tag") }
                        i += 1
                        guard let t = String(validating: text, as: UTF8.self) else { throw fail("text is not UTF-8") }
                        return S3XML(name: Self.local(qualified), text: t, children: children)
                    } else if starts("<!--") {
                        try skip(past: "-->")
                    } else if starts("<![CDATA[") {
                        i += 9
                        let start = i
                        try skip(past: "]]>")
                        text += b[start..<(i - 3)]
                    } else if starts("<?") {
                        try skip(past: "?>")
                    } else if starts("<!") {
                        throw fail("declarations inside an element are refused")
                    } else {
                        children.append(try element(depth: depth + 1))
                    }
                } else if c == UInt8(ascii: "&") {
                    text += try entity()
                } else {
                    text.append(c)
                    i += 1
                }
            }
        }

        /// The five predefined entities and character references; any other is refused (no DTD defines one).
        mutating func entity() throws(Malformed) -> [UInt8] {
            let start = i
            while i < b.count, b[i] != UInt8(ascii: ";"), i - start <= 12 { i += 1 }
            guard i < b.count, b[i] == UInt8(ascii: ";") else { throw fail("unterminated entity") }
            let body = String(decoding: b[(start + 1)..<i], as: UTF8.self)
            i += 1
            switch body {
            case "lt": return [UInt8(ascii: "<")]
            case "gt": return [UInt8(ascii: ">")]
            case "amp": return [UInt8(ascii: "&")]
            case "quot": return [UInt8(ascii: "\"")]
            case "apos": return [UInt8(ascii: "'")]
            default:
                var value: UInt32?
                if body.hasPrefix("#x") || body.hasPrefix("#X") { value = UInt32(body.dropFirst(2), radix: 16) } else if body.hasPrefix("#") {
                    value = UInt32(body.dropFirst(), radix: 10)
                }
                guard let v = value, v != 0, let scalar = Unicode.Scalar(v) else { throw fail("unknown entity &\(body.prefix(12));") }
                return Array(String(Character(scalar)).utf8)
            }
        }
    }
}
