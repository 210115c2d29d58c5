import Hummingbird

/// Refuses requests not meant for this camera before any route sees them:
/// - a Host header other than the address the page is served on (421): a page from another site whose
///   name was re-pointed at 127.0.0.1 (DNS rebinding) sends its own name, so it can neither read the
///   picture and events nor press buttons;
/// - a POST whose Origin is another site's (403): a page elsewhere cannot press buttons through the
///   browser of someone who has the live page open (CSRF). No Origin (curl, scripts) is fine: such a
///   client could as well send any Host.
struct RequestGuard<Context: RequestContext>: RouterMiddleware {
    let address: LiveViewAddress
    /// The port actually bound (port 0 picks one).
    let port: BoundPort

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authority = request.head.authority, allows(authority: authority) else {
            return LiveReply.error("this server answers only to \(address.urlHost):\(port.value) (Host header \(request.head.authority.map { "'\($0.prefix(80))'" } ?? "missing"))",
                                   status: .misdirectedRequest)
        }
        if request.method == .post, let origin = request.headers[.origin], origin.lowercased() != "http://" + authority.lowercased() {
            return LiveReply.error("requests from another site's page are refused (Origin '\(origin.prefix(80))')", status: .forbidden)
        }
        return try await next(request, context)
    }

    /// `host[:port]` names this server: the bound port, and the bound address, or on loopback any name of
    /// this machine, or on a wildcard address any IP literal (names are refused: see above).
    func allows(authority: String) -> Bool {
        var host = Substring(authority.lowercased())
        var hostPort = 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let rest = host[host.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { return false }
                hostPort = p
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]) else { return false }
            hostPort = p
            host = host[..<colon]
        }
        guard hostPort == port.value else { return false }
        let loopbackNames: Set<Substring> = ["localhost", "127.0.0.1", "::1"]
        if host == Substring(address.host) { return true }
        if address.isLoopback || address.isWildcard, loopbackNames.contains(host) { return true }
        if address.isWildcard { return IPLiteral.isIPv4(host) || IPLiteral.isIPv6(host) }
        return false
    }
}
