import Foundation
import TOMLKit
#if canImport(Glibc)
import Glibc
#endif

/// `--config FILE`: a TOML file whose keys are a command's long option names, as typed without the dashes,
///
///     size = "640x480"        # --size 640x480
///     fps = 15                # --fps 15
///     strict = true           # --strict (false: as if not given)
///     storage = "/var/bwv"    # a relative path is taken from the config file's folder
///
/// turned into `--key=value` arguments that go before the command line's own, so that ArgumentParser parses
/// both, checks both the same way, and an option on the command line overrides the file (for a single-value
/// option the last occurrence wins). The `=` form keeps values such as `-1s` from reading as options.
///
/// Everything that is wrong with the file is one line naming the file, the key and its line where known: a
/// file that cannot be read, is a folder, is over 1 MiB, is not UTF-8 or not TOML; an unknown key (a typo is
/// never ignored); a value of the wrong TOML type (`fps = "15"` and `size = 640` alike); tables and arrays;
/// `config` itself.
public enum ConfigFile {
    /// What a key's TOML value must be.
    public enum Kind: Equatable, Sendable {
        /// `true` (the flag is given) or `false` (it is not).
        case flag
        /// A TOML integer, `fps = 15`.
        case integer
        /// A TOML string, passed as written: `size = "640x480"`, `prerecord = "30s"`.
        case text
        /// A TOML string naming a file or folder; a relative one is taken from the config file's folder. A URL
        /// (containing `://`) and the words in `keeping` (`auto`, `none`) are passed as written.
        case path(keeping: [String] = [])
    }

    /// Largest config file read.
    public static let maxBytes = 1 << 20

    /// A problem with the file, said in one line without the command's name: `--config FILE: ...`.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ file: String, _ text: String) {
            description = "--config \(file.isEmpty ? "''" : file.oneLine): \(text)"
        }
    }

    /// One key of the file: the argument it stands for, and where it was set.
    public struct Setting: Equatable, Sendable {
        /// `--fps=15`, or `--strict` for a flag.
        public let argument: String
        public let key: String
        /// The value as passed (a path resolved), "" for a flag.
        public let value: String
        /// Its line in the file, if found.
        public let line: Int?
    }

    /// The arguments the file at `path` stands for, in the order of its lines.
    public static func arguments(fromFile path: String, keys: [String: Kind]) throws(Problem) -> [String] {
        try settings(fromFile: path, keys: keys).map(\.argument)
    }

    /// The arguments for the TOML `text` of `file`; relative paths are taken from `folder` ("" for the current one).
    public static func arguments(fromText text: String, file: String, folder: String,
                                 keys: [String: Kind]) throws(Problem) -> [String] {
        try settings(fromText: text, file: file, folder: folder, keys: keys).map(\.argument)
    }

    public static func settings(fromFile path: String, keys: [String: Kind]) throws(Problem) -> [Setting] {
        let text = try readText(path)
        let folder = (path as NSString).deletingLastPathComponent
        return try settings(fromText: text, file: path, folder: folder, keys: keys)
    }

    public static func settings(fromText text: String, file: String, folder: String,
                                keys known: [String: Kind]) throws(Problem) -> [Setting] {
        // toml++ reads a C string: a NUL would end the document there, and an escaped one would cut a key or value.
        if text.utf8.contains(0) { throw Problem(file, "holds a NUL byte: not a text file") }
        if text.range(of: #"\\(u0000|U00000000)"#, options: .regularExpression) != nil {
            let at = lineOf(text, pattern: #"\\(u0000|U00000000)"#).map { "line \($0): " } ?? ""
            throw Problem(file, "\(at)a NUL character (\\u0000) is not accepted")
        }
        // Arrays, tables and [sections] are never a key's value here, so they are refused before toml++ sees them:
        // TOMLKit builds it without NDEBUG (release builds too), and its assertions abort the process on some
        // malformed ones (`[}`, `a = [1, }`, found by fuzzing) instead of reporting them.
        // Dotted keys likewise: toml++ recurses once per dot (a line of 200,000 overflowed the stack).
        if let (line, dotted) = firstNesting(text) {
            let content = text.split(separator: "\n", omittingEmptySubsequences: false)[line - 1]
            guard let key = keyOf(content) else {
                throw Problem(file, "line \(line): a [section] or an array; every key goes at the top level, with one value")
            }
            let name = "'\(shown(key))' (line \(line))"
            guard let kind = known[key] else { throw unknown(key, name, file, known) }
            throw Problem(file, "\(name) is \(dotted ? "a dotted key (a table)" : "an array or a table"); \(key) takes \(expected(kind, key))")
        }
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw Problem(file, "line \(error.source.begin.line): not valid TOML: \(error.description.oneLine)")
        } catch {
            throw Problem(file, "not valid TOML: \("\(error)".oneLine)")
        }
        let keys = table.keys
        let lines = keyLines(text)
        var arguments: [Setting] = []
        for key in keys.sorted(by: { (lines[$0] ?? .max, $0) < (lines[$1] ?? .max, $1) }) {
            guard let value = table[key] else { continue }
            let line = lines[key].flatMap { $0 == .max ? nil : $0 }
            let at = line.map { " (line \($0))" } ?? ""
            let name = "'\(shown(key))'\(at)"
            guard let kind = known[key] else { throw unknown(key, name, file, known) }
            switch (kind, value.type) {
            case (.flag, .bool):
                if value.bool == true { arguments.append(Setting(argument: "--\(key)", key: key, value: "", line: line)) }
            case (.integer, .int):
                let number = "\(value.int ?? 0)"
                arguments.append(Setting(argument: "--\(key)=\(number)", key: key, value: number, line: line))
            case (.text, .string):
                let string = value.string ?? ""
                arguments.append(Setting(argument: "--\(key)=\(string)", key: key, value: string, line: line))
            case (.path(let keeping), .string):
                let given = value.string ?? ""
                if given.isEmpty { throw Problem(file, "\(name): an empty path") }
                let resolved = given.hasPrefix("/") || given.contains("://") || keeping.contains(given) || folder.isEmpty
                    ? given : (folder as NSString).appendingPathComponent(given)
                arguments.append(Setting(argument: "--\(key)=\(resolved)", key: key, value: resolved, line: line))
            default:
                throw Problem(file, "\(name) is \(describe(value)); \(key) takes \(expected(kind, key))")
            }
        }
        return arguments
    }

    /// The file's text: a regular file of at most `maxBytes` bytes of UTF-8.
    static func readText(_ path: String) throws(Problem) -> String {
        if path.isEmpty { throw Problem(path, "no file named") }
        // O_NONBLOCK: opening a FIFO with no writer must not hang (it is refused below as not a regular file).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 { throw Problem(path, "cannot read: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Problem(path, "cannot read: \(String(cString: strerror(errno)))") }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw Problem(path, "is a folder, not a config file")
        default: throw Problem(path, "is not a regular file")
        }
        if info.st_size > maxBytes { throw Problem(path, "is \(info.st_size) bytes; a config file is at most 1 MiB") }
        var bytes = [UInt8](repeating: 0, count: maxBytes + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw Problem(path, "cannot read: \(String(cString: strerror(errno)))")
            }
            count += n
        }
        // It may have grown since fstat.
        if count > maxBytes { throw Problem(path, "is over 1 MiB; a config file is at most 1 MiB") }
        guard let text = String(validating: bytes[..<count], as: UTF8.self) else {
            throw Problem(path, "is not UTF-8 text")
        }
        return text
    }

    // MARK: - Saying what is wrong

    static func unknown(_ key: String, _ name: String, _ file: String, _ known: [String: Kind]) -> Problem {
        if key == "config" { return Problem(file, "\(name): a config file cannot name another one (--config is for the command line only)") }
        let hint = suggestion(for: key, among: known.keys).map { "; did you mean '\($0)'?" } ?? ""
        return Problem(file, "unknown key \(name)\(hint); keys are the long option names without the dashes")
    }

    /// The line of the first `[` or `{` outside strings and comments, or of the first dot in a key (`dotted`), if any.
    static func firstNesting(_ text: String) -> (line: Int, dotted: Bool)? {
        let b = Array(text.utf8)
        var i = 0, line = 1
        var inKey = true // from the start of a line to its `=`
        func at(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            return i + n <= b.count && (0..<n).allSatisfy { b[i + $0] == s.utf8Start[$0] }
        }
        /// Skips a string from just after its opening delimiter to just after its closing one.
        func skipString(close: StaticString, escapes: Bool, multiline: Bool) {
            while i < b.count {
                if at(close) { i += close.utf8CodeUnitCount; return }
                if b[i] == UInt8(ascii: "\n") {
                    if !multiline { return } // unterminated: toml++ says so
                    line += 1
                } else if escapes && b[i] == UInt8(ascii: "\\") && i + 1 < b.count {
                    i += 1
                    if b[i] == UInt8(ascii: "\n") { line += 1 }
                }
                i += 1
            }
        }
        while i < b.count {
            switch b[i] {
            case UInt8(ascii: "\n"): line += 1; i += 1; inKey = true
            case UInt8(ascii: "#"): while i < b.count && b[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "["), UInt8(ascii: "{"): return (line, false)
            case UInt8(ascii: "."): if inKey { return (line, true) } else { i += 1 }
            case UInt8(ascii: "="): inKey = false; i += 1
            case UInt8(ascii: "\""):
                if at("\"\"\"") { i += 3; skipString(close: "\"\"\"", escapes: true, multiline: true) }
                else { i += 1; skipString(close: "\"", escapes: true, multiline: false) }
            case UInt8(ascii: "'"):
                if at("'''") { i += 3; skipString(close: "'''", escapes: false, multiline: true) }
                else { i += 1; skipString(close: "'", escapes: false, multiline: false) }
            default: i += 1
            }
        }
        return nil
    }

    /// The key a `key = ...` (or dotted `key.sub = ...`) line sets, bare, "quoted" (without escapes) or
    /// 'literal', if it is one.
    static func keyOf(_ line: Substring) -> String? {
        var rest = line.drop { $0 == " " || $0 == "\t" }
        let key: Substring
        if let quote = rest.first, quote == "\"" || quote == "'" {
            let body = rest.dropFirst()
            guard let end = body.firstIndex(of: quote), !body[..<end].contains("\\") || quote == "'" else { return nil }
            key = body[..<end]
            rest = body[body.index(after: end)...]
        } else {
            key = rest.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
            guard !key.isEmpty else { return nil }
            rest = rest[key.endIndex...]
        }
        rest = rest.drop { $0 == " " || $0 == "\t" }
        return rest.first == "=" || rest.first == "." ? String(key) : nil
    }

    static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: return "a string (\"\(shown(value.string ?? ""))\")"
        case .int: return "a number (\(value.int ?? 0))"
        case .double: return "a number with a fraction (\(value.double ?? 0))"
        case .bool: return "\(value.bool == true ? "true" : "false")"
        case .table: return "a table; every key goes at the top level, before any [section]"
        case .array: return "an array"
        case .date, .time, .dateTime: return "a TOML date or time"
        }
    }

    static func expected(_ kind: Kind, _ key: String) -> String {
        switch kind {
        case .flag: return "true or false (\(key) = true)"
        case .integer: return "a whole number, unquoted (\(key) = 15)"
        case .text, .path: return "a string, in quotes (\(key) = \"...\")"
        }
    }

    /// The first line each key is set on, found by reading the text in one pass (TOMLKit does not keep
    /// positions; a search per key would take minutes on a 1 MiB file of short lines).
    static func keyLines(_ text: String) -> [String: Int] {
        var found: [String: Int] = [:]
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let key = keyOf(line), found[key] == nil { found[key] = i + 1 }
        }
        return found
    }

    private static func lineOf(_ text: String, pattern: String) -> Int? {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let s = String(line)
            if regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil { return i + 1 }
        }
        return nil
    }

    /// The known key closest to a mistyped one (at most two edits away), if any.
    static func suggestion(for key: String, among keys: some Sequence<String>) -> String? {
        guard key.count >= 3 else { return nil }
        let typed = Array(key.lowercased().replacingOccurrences(of: "_", with: "-"))
        return keys.map { ($0, distance(typed, Array($0))) }.filter { $0.1 <= 2 }.min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
    }

    private static func distance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var row = [i + 1]
            for (j, y) in b.enumerated() { row.append(min(previous[j + 1] + 1, row[j] + 1, previous[j] + (x == y ? 0 : 1))) }
            previous = row
        }
        return previous[b.count]
    }

    /// A name or value as shown in a message: one line, at most 60 characters.
    static func shown(_ s: String) -> String {
        let line = s.oneLine
        return line.count > 60 ? String(line.prefix(57)) + "..." : line
    }
}

extension ConfigFile {
    /// The command line with `--config FILE` replaced by the file's arguments, placed before the others.
    ///
    /// `arguments` are the process's arguments without the program name. The file applies to `subcommand`
    /// (given by name, or, when `isDefault`, by giving none of `subcommands`); anything else, and a request for
    /// help, is returned as it is (ArgumentParser then shows the help or reports the option itself).
    public static func expanding(_ arguments: [String], subcommand: String, isDefault: Bool, subcommands: [String],
                                 keys: [String: Kind]) throws(Problem) -> Expansion {
        var settings: [Setting] = []
        var file: String?
        let expanded = try expanding(arguments, subcommand: subcommand, isDefault: isDefault, subcommands: subcommands) { path throws(Problem) in
            file = path
            settings = try self.settings(fromFile: path, keys: keys)
            return settings.map(\.argument)
        }
        return Expansion(arguments: expanded, file: file, settings: settings)
    }

    /// The command line to parse, and the config file it named.
    public struct Expansion {
        public let arguments: [String]
        /// The file and what it set, if `--config` was given.
        public let file: String?
        public let settings: [Setting]
    }

    static func expanding(_ arguments: [String], subcommand: String, isDefault: Bool, subcommands: [String],
                          read: (String) throws(Problem) -> [String]) throws(Problem) -> [String] {
        var prefix: [String] = []
        var rest = arguments
        if let first = arguments.first, first == subcommand {
            prefix = [first]
            rest = Array(arguments.dropFirst())
        } else if !isDefault || arguments.first.map({ subcommands.contains($0) || $0 == "help" }) == true {
            return arguments
        }
        let options = rest.prefix { $0 != "--" }
        if options.contains(where: { ["-h", "--help", "--experimental-dump-help"].contains($0) }) { return arguments }
        var files: [String] = []
        var kept: [String] = []
        var i = rest.startIndex
        while i < rest.endIndex {
            let a = rest[i]
            if i >= options.endIndex {
                kept.append(a)
            } else if a == "--config" {
                guard i + 1 < rest.endIndex else { return arguments } // ArgumentParser says the value is missing
                files.append(rest[i + 1])
                i += 1
            } else if a.hasPrefix("--config=") {
                files.append(String(a.dropFirst("--config=".count)))
            } else {
                kept.append(a)
            }
            i += 1
        }
        guard let file = files.first else { return arguments }
        if files.count > 1 { throw Problem(files[1], "one config file at most (--config is given \(files.count) times)") }
        return prefix + (try read(file)) + kept
    }
}

private extension StringProtocol {
    /// Control characters (line breaks, escapes) shown as spaces, so a message stays one line.
    var oneLine: String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }
}
