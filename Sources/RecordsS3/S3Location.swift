/// Where the blobs go, parsed from `s3://BUCKET?endpoint=http://HOST:PORT[&region=R]`. Parsed totally: every
/// part is checked and anything unexpected is refused with a message saying what, rather than guessed at.
/// Credentials are never taken from the URL (it ends up in process lists, shell histories and logs).
public struct S3Location: Equatable, Sendable {
    public var bucket: String
    /// `http` or `https`.
    public var scheme: String
    public var host: String
    public var port: Int
    public var region: String

    /// `scheme://host:port`, the base every request's path is appended to (path-style addressing).
    public var endpoint: String { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    /// The `Host` header: the port only when it is not the scheme's default (as HTTP clients send it).
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return (scheme == "http" && port == 80) || (scheme == "https" && port == 443) ? h : "\(h):\(port)"
    }

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
        init(_ d: String) { description = "s3 blob store URL: " + d }
    }

    public init(bucket: String, scheme: String, host: String, port: Int, region: String) {
        (self.bucket, self.scheme, self.host, self.port, self.region) = (bucket, scheme, host, port, region)
    }

    public static func parse(_ url: String) throws(Invalid) -> S3Location {
        guard url.utf8.count <= 2048 else { throw Invalid("longer than 2048 bytes") }
        guard url.hasPrefix("s3://") else { throw Invalid("must start with s3:// (s3://BUCKET?endpoint=http://HOST:PORT)") }
        let rest = url.dropFirst(5)
        guard !rest.contains("#") else { throw Invalid("a fragment (#) is not allowed") }
        let (authority, queryPart): (Substring, Substring?) = {
            if let q = rest.firstIndex(of: "?") { return (rest[..<q], rest[rest.index(after: q)...]) }
            return (rest, nil)
        }()
        guard !authority.contains("@") else { throw Invalid("credentials in the URL are refused: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the shared credentials file") }
        var bucket = authority
        if bucket.hasSuffix("/") { bucket = bucket.dropLast() }
        guard !bucket.contains("/") else { throw Invalid("no path after the bucket (keys are the store's own: blobs/<sha256>)") }
        try validateBucket(String(bucket))

        var endpoint: String?
        var region: String?
        for pair in (queryPart ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            guard let eq = pair.firstIndex(of: "=") else { throw Invalid("query parameter '\(pair.prefix(40))' has no value") }
            let name = String(pair[..<eq])
            guard let value = percentDecoded(pair[pair.index(after: eq)...]) else { throw Invalid("parameter \(name.prefix(40)): bad percent-encoding") }
            switch name {
            case "endpoint":
                guard endpoint == nil else { throw Invalid("endpoint given twice") }
                endpoint = value
            case "region":
                guard region == nil else { throw Invalid("region given twice") }
                guard !value.isEmpty, value.utf8.count <= 64,
                      value.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }) else {
                    throw Invalid("region must be 1-64 of a-z 0-9 -")
                }
                region = value
            default:
                throw Invalid("unknown parameter '\(name.prefix(40))' (endpoint and region are known)")
            }
        }
        guard let endpoint else { throw Invalid("endpoint= is required (s3://\(bucket)?endpoint=http://HOST:PORT)") }
        let (scheme, host, port) = try parseEndpoint(endpoint)
        return S3Location(bucket: String(bucket), scheme: scheme, host: host, port: port, region: region ?? "us-east-1")
    }

    /// S3's bucket naming rules: 3-63 characters of a-z 0-9 . -, starting and ending with a letter or digit.
    static func validateBucket(_ b: String) throws(Invalid) {
        let u = Array(b.utf8)
        guard (3...63).contains(u.count) else { throw Invalid("bucket name must be 3-63 characters") }
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        guard u.allSatisfy({ alnum($0) || $0 == 46 || $0 == 45 }), alnum(u.first!), alnum(u.last!), !b.contains("..") else {
            throw Invalid("bucket name '\(b.prefix(63))' is not valid (a-z 0-9 . -, starting and ending with a letter or digit)")
        }
    }

    static func parseEndpoint(_ e: String) throws(Invalid) -> (String, String, Int) {
        let scheme: String
        var rest: Substring
        if e.hasPrefix("http://") { scheme = "http"; rest = e.dropFirst(7) } else if e.hasPrefix("https://") { scheme = "https"; rest = e.dropFirst(8) } else {
            throw Invalid("endpoint must be http://HOST[:PORT] or https://HOST[:PORT]")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("@") else { throw Invalid("credentials in the endpoint are refused") }
        guard !rest.contains("/"), !rest.contains("?") else { throw Invalid("endpoint must have no path or query") }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw Invalid("endpoint: unclosed [ in the host") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Invalid("endpoint: unexpected text after ]") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.utf8.allSatisfy({ isHex($0) || $0 == 58 || $0 == 46 }) else { throw Invalid("endpoint: bad IPv6 address") }
        } else {
            if let colon = rest.firstIndex(of: ":") {
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
            } else {
                host = rest
            }
            guard !host.isEmpty, host.utf8.count <= 253,
                  host.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }) else {
                throw Invalid("endpoint host must be a name or an address")
            }
        }
        var port = scheme == "http" ? 80 : 443
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let p = Int(portText), (1...65535).contains(p) else {
                throw Invalid("endpoint port must be 1-65535")
            }
            port = p
        }
        return (scheme, String(host).lowercased(), port)
    }

    private static func isHex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) }

    static func percentDecoded(_ s: Substring) -> String? {
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%") {
                guard it.count >= 2, isHex(it[it.startIndex]), isHex(it[it.startIndex + 1]) else { return nil }
                out.append(UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16)!)
                it = it.dropFirst(2)
            } else {
                out.append(c)
            }
        }
        guard let decoded = String(validating: out, as: UTF8.self), !decoded.utf8.contains(where: { $0 < 32 || $0 == 127 }) else { return nil }
        return decoded
    }
}
