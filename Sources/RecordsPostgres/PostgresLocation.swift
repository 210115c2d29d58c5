import BodycamRecords
import Foundation

/// Where the catalogue's PostgreSQL is: `postgres://USER@HOST[:PORT]/DB[?sslmode=disable|require]`.
/// Parsed totally: anything else is one clear line, never a trap. A password in the URL is refused, since
/// the URL is on the command line (and in `ps`): it comes from the environment or a file instead.
struct PostgresLocation: Equatable, Sendable {
    var user: String
    var host: String
    var port: Int
    var database: String
    /// TLS with the server's certificate checked against the system's roots and the host name.
    var requireTLS: Bool

    /// `host:port`, as errors name the server.
    var server: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    var url: String { "postgres://\(user)@\(server)/\(database)\(requireTLS ? "?sslmode=require" : "")" }

    static let passwordRefusal = "a password in the catalogue URL is refused (the command line is visible to every user): "
        + "put it in BODYCAM_CATALOG_PASSWORD or in the file BODYCAM_CATALOG_PASSWORD_FILE names"

    static func parse(_ text: String) throws(StoreLocationError) -> PostgresLocation {
        func fail(_ why: String) -> StoreLocationError { StoreLocationError("--catalog postgres://…: \(why)") }
        guard text.utf8.count <= 1024 else { throw fail("longer than 1024 bytes") }
        let rest: Substring
        if text.hasPrefix("postgres://") { rest = text.dropFirst("postgres://".count) }
        else if text.hasPrefix("postgresql://") { rest = text.dropFirst("postgresql://".count) }
        else { throw fail("not a postgres:// URL") }

        let (beforeQuery, query) = split(rest, at: "?")
        // Checked first, so no other message ever echoes a password (even one holding a '/').
        if let at = beforeQuery.lastIndex(of: "@"), beforeQuery[..<at].contains(":") { throw StoreLocationError(passwordRefusal) }
        guard let slash = beforeQuery.firstIndex(of: "/") else { throw fail("names no database (postgres://USER@HOST[:PORT]/DB)") }
        let authority = beforeQuery[..<slash]
        let database = beforeQuery[beforeQuery.index(after: slash)...]
        guard let at = authority.lastIndex(of: "@") else { throw fail("names no user (postgres://USER@HOST[:PORT]/DB)") }
        let userInfo = authority[..<at]
        guard isName(userInfo) else { throw fail("the user must be 1-63 of A-Z a-z 0-9 _ . -") }
        guard isName(database) else { throw fail("the database must be 1-63 of A-Z a-z 0-9 _ . -") }

        let (host, port) = try hostAndPort(authority[authority.index(after: at)...], fail)
        var requireTLS = !["127.0.0.1", "::1", "localhost"].contains(host)
        if let query {
            for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
                switch pair {
                case "sslmode=disable": requireTLS = false
                case "sslmode=require": requireTLS = true
                // Not echoed: an unknown option may be a password put there.
                default: throw fail("the only option is sslmode=disable or sslmode=require")
                }
            }
        }
        return PostgresLocation(user: String(userInfo), host: host, port: port, database: String(database), requireTLS: requireTLS)
    }

    private static func split(_ s: Substring, at separator: Character) -> (Substring, Substring?) {
        guard let i = s.firstIndex(of: separator) else { return (s, nil) }
        return (s[..<i], s[s.index(after: i)...])
    }

    private static func isName(_ s: Substring) -> Bool {
        (1...63).contains(s.utf8.count) && s.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 46 || $0 == 45
        }
    }

    private static func hostAndPort(_ s: Substring, _ fail: (String) -> StoreLocationError) throws(StoreLocationError) -> (String, Int) {
        var host: Substring
        var portText: Substring?
        if s.hasPrefix("[") {
            // An IPv6 address in brackets: [::1]:5432.
            guard let close = s.firstIndex(of: "]") else { throw fail("an IPv6 host needs its closing ]") }
            host = s[s.index(after: s.startIndex)..<close]
            let after = s[s.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("after ] comes :PORT or nothing") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.utf8.allSatisfy({ isHexDigit($0) || $0 == 58 || $0 == 46 }) else { throw fail("not an IPv6 address in []") }
        } else {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw fail("an IPv6 host goes in brackets: [::1]:5432") }
            host = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
            guard (1...253).contains(host.utf8.count), host.utf8.allSatisfy({ isHostByte($0) }) else {
                throw fail("the host must be a name or an address (A-Z a-z 0-9 . -)")
            }
        }
        var port = 5432
        if let portText {
            guard (1...5).contains(portText.utf8.count), portText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let p = Int(portText),
                  (1...65535).contains(p) else { throw fail("the port must be 1-65535") }
            port = p
        }
        return (String(host), port)
    }

    private static func isHexDigit(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102) }
    private static func isHostByte(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 46 || b == 45 }
}

/// The catalogue's password: `BODYCAM_CATALOG_PASSWORD`, or the first line of the file
/// `BODYCAM_CATALOG_PASSWORD_FILE` names; neither means none (trust or peer authentication).
enum CataloguePassword {
    static func resolve(_ environment: [String: String]) throws(StoreLocationError) -> String? {
        if let password = environment["BODYCAM_CATALOG_PASSWORD"], !password.isEmpty { return password }
        guard let path = environment["BODYCAM_CATALOG_PASSWORD_FILE"], !path.isEmpty else { return nil }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StoreLocationError("BODYCAM_CATALOG_PASSWORD_FILE \(path): cannot be read")
        }
        defer { try? handle.close() }
        let bytes = (try? handle.read(upToCount: 4096)) ?? nil
        let firstLine = String(decoding: bytes ?? Data(), as: UTF8.self).split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let password = firstLine.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !password.isEmpty else { throw StoreLocationError("BODYCAM_CATALOG_PASSWORD_FILE \(path): its first line is empty") }
        return password
    }
}
