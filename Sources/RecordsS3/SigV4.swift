import Crypto

/// AWS Signature Version 4 for S3, header form. The payload's SHA-256 is always part of what is signed
/// (`x-amz-content-sha256` is the hex digest of the body, never `UNSIGNED-PAYLOAD`): the gateway then refuses
/// a body that is not the one hashed, so a byte changed on the way is an error, not stored evidence.
public struct SigV4Signer: Sendable {
    public var credentials: S3Credentials
    public var region: String
    public var service = "s3"

    public init(credentials: S3Credentials, region: String) {
        self.credentials = credentials
        self.region = region
    }

    public static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (with a
    /// session token) and `authorization`. `path` is the URI path as sent (already percent-encoded, as
    /// `S3Path.encode` makes it); `query` the parameters (not encoded); `headers` every other header sent
    /// that should be signed (host included). `amzDate` is `YYYYMMDDTHHMMSSZ`.
    public func sign(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                     payloadSHA256: String, amzDate: String) -> [(String, String)] {
        var added: [(String, String)] = [("x-amz-date", amzDate), ("x-amz-content-sha256", payloadSHA256)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        // Canonical headers: lower-case names, trimmed values with inner runs of spaces folded, sorted by name.
        var byName: [String: [String]] = [:]
        for (name, value) in headers + added {
            byName[name.lowercased(), default: []].append(Self.trimmed(value))
        }
        let names = byName.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(byName[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalQuery = query.map { (S3Path.encode($0.0, encodeSlash: true), S3Path.encode($0.1, encodeSlash: true)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonicalRequest = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, payloadSHA256].joined(separator: "\n")
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        added.append(("authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope),SignedHeaders=\(signedHeaders),Signature=\(signature)"))
        return added
    }

    static func trimmed(_ value: String) -> String {
        var out = ""
        var space = false
        for c in value.trimmingSpaces {
            if c == " " || c == "\t" {
                space = true
            } else {
                if space && !out.isEmpty { out.append(" ") }
                space = false
                out.append(c)
            }
        }
        return out
    }

    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    /// `YYYYMMDDTHHMMSSZ` for a time in seconds since 1970 (UTC).
    public static func amzDate(unixSeconds t: Int64) -> String {
        let (y, mo, d, h, mi, s) = CivilTime.fields(unixSeconds: t)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)\(two(mo))\(two(d))T\(two(h))\(two(mi))\(two(s))Z"
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        let s = Substring(self)
        guard let first = s.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let last = s.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return s[first...last]
    }
}

/// Percent-encoding of S3 paths and query parameters as SigV4 wants it: everything but unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`) encoded, upper-case hex; `/` kept in a path.
public enum S3Path {
    public static func encode(_ s: String, encodeSlash: Bool) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: "/") where !encodeSlash:
                out.append("/")
            default:
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                out.append("%")
                out.unicodeScalars.append(digits[Int(b >> 4)])
                out.unicodeScalars.append(digits[Int(b & 15)])
            }
        }
        return out
    }
}

/// Calendar fields of a UTC time without Foundation's calendar (Howard Hinnant's days-from-civil algorithm).
public enum CivilTime {
    public static func fields(unixSeconds t: Int64) -> (Int, Int, Int, Int, Int, Int) {
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = Int(t - days * 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        let y = Int(yoe + era * 400) + (m <= 2 ? 1 : 0)
        return (y, m, d, secs / 3600, secs / 60 % 60, secs % 60)
    }

    /// Seconds since 1970 for a UTC date; nil for fields out of range.
    public static func unixSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
        guard (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour),
              (0...59).contains(minute), (0...60).contains(second) else { return nil }
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(month > 2 ? month - 3 : month + 9)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// ISO 8601 as S3 wants it in Object Lock dates: `2026-12-30T01:02:03Z`.
    public static func iso(unixSeconds t: Int64) -> String {
        let (y, mo, d, h, mi, s) = fields(unixSeconds: t)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(mo))-\(two(d))T\(two(h)):\(two(mi)):\(two(s))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (what S3 answers); nil for anything else.
    public static func parseISO(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count >= 20, b.count <= 40, b.last == UInt8(ascii: "Z") else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r { guard b[i] >= 48, b[i] <= 57 else { return nil }; v = v * 10 + Int(b[i] - 48) }
            return v
        }
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"),
              b[16] == UInt8(ascii: ":"), let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
              let mi = num(14..<16), let sec = num(17..<19) else { return nil }
        if b.count > 20 {
            guard b[19] == UInt8(ascii: "."), b.count > 21, num(20..<(b.count - 1)) != nil else { return nil }
        }
        return unixSeconds(year: y, month: mo, day: d, hour: h, minute: mi, second: sec)
    }
}
