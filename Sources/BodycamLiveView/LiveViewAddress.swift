#if canImport(Glibc)
import Glibc
#endif

/// Where the live view listens (`--http`): `PORT` alone is 127.0.0.1:PORT; otherwise `IPv4:PORT`,
/// `[IPv6]:PORT` or `localhost:PORT`. Port 0 picks a free port. Only IP literals: a name that resolves
/// elsewhere later is what DNS rebinding exploits.
public struct LiveViewAddress: Equatable, Sendable, CustomStringConvertible {
    /// An IP literal, without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) { (self.host, self.port) = (host, port) }

    public static func parse(_ text: String) -> Result<LiveViewAddress, LiveViewAddressError> {
        let problem = LiveViewAddressError("'\(text.prefix(60))': PORT, or HOST:PORT with an IP address (127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080)")
        if let port = Self.port(Substring(text)) { return .success(LiveViewAddress(host: "127.0.0.1", port: port)) }
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return .failure(problem) }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard IPLiteral.isIPv6(host) else { return .failure(problem) }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(problem) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.lowercased() == "localhost" { host = "127.0.0.1" }
            guard IPLiteral.isIPv4(host) else { return .failure(problem) }
        }
        guard let port = Self.port(portText) else { return .failure(problem) }
        return .success(LiveViewAddress(host: String(host), port: port))
    }

    private static func port(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(s), p <= 65535 else { return nil }
        return p
    }

    /// 127.0.0.0/8 or ::1: only this machine can connect.
    public var isLoopback: Bool { host.hasPrefix("127.") || host == "::1" }
    /// 0.0.0.0 or ::: every interface.
    public var isWildcard: Bool { host == "0.0.0.0" || host == "::" }

    /// The address for a URL: IPv6 in brackets.
    public var urlHost: String { host.contains(":") ? "[\(host)]" : host }

    public var description: String { "\(urlHost):\(port)" }
}

public struct LiveViewAddressError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

enum IPLiteral {
    static func isIPv4(_ s: Substring) -> Bool {
        var a = in_addr()
        return s.count <= 15 && inet_pton(AF_INET, String(s), &a) == 1
    }

    static func isIPv6(_ s: Substring) -> Bool {
        var a = in6_addr()
        return s.count <= 45 && inet_pton(AF_INET6, String(s), &a) == 1
    }
}
