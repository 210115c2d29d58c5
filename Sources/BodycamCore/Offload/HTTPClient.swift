import CHAL
#if canImport(Glibc)
import Glibc
#endif

/// A small blocking HTTP/1.1 client for the dock link to the records service: one keep-alive connection
/// over TCP or TLS (`tls`: the certificate chain and the host name checked, through the HAL's OpenSSL),
/// `Content-Length` bodies out, `Content-Length` or chunked bodies in, every size bounded and every wait
/// limited by a timeout. It runs on the device runtime's thread during a dock, never on the capture path.
/// Blocking and tiny on purpose: the camera firmware does not carry an event loop for one upload at a time.
public final class HTTPClient {
    public struct Response: Equatable {
        public var status: Int
        public var body: [UInt8]
    }

    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    public let host: String
    public let port: UInt16
    /// TLS with this trust, or plain TCP when nil.
    public let tls: TLSTrust?
    /// Longest wait for a connect, a send or a read.
    public let timeoutSeconds: Int
    /// Largest response body accepted (answers are small JSON).
    public static let maxResponseBytes = 1 << 20
    static let maxHeaderBytes = 16 << 10
    private var fd: Int32 = -1
    /// The TLS session on `fd`, when `tls` is set and a connection is open.
    private var session: OpaquePointer?
    private var inbox: [UInt8] = []
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 << 10, alignment: 16)
    /// When the exchange under way must be over (monotonic milliseconds): each wait is also cut at it, so
    /// a peer that dribbles a byte at a time (slowloris, endless trailers) cannot hold the link for long.
    private var deadline: Int64 = .max
    /// Longest silence of one wait (milliseconds): the timeout, or while an answer is awaited, the timeout
    /// plus the service's allowance for the bytes it works through first.
    private var quietLimit: Int64 = 15_000
    /// Slowest sending rate allowed for a request body (bytes per millisecond: 16 KB/s).
    static let minimumSendRate = 16
    /// Slowest rate at which a busy service is allowed to take in bytes before it answers (bytes per
    /// millisecond: 1 MB/s): a stored chunk is hashed and written, a finished file hashed and stored whole,
    /// so the wait for an answer grows with them rather than cutting off a service that is working.
    static let minimumAnswerRate = 1000

    static func monotonicMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    public init(host: String, port: UInt16, tls: TLSTrust? = nil, timeoutSeconds: Int = 15) {
        self.host = host
        self.port = port
        self.tls = tls
        self.timeoutSeconds = timeoutSeconds
        quietLimit = Int64(timeoutSeconds) * 1000
    }

    deinit {
        disconnect()
        readBuffer.deallocate()
    }

    /// `https://HOST[:PORT]` or `http://HOST[:PORT]` (ports 443 and 80 by default; an optional trailing
    /// `/`). HOST is a DNS name or an IPv4 address.
    public static func parseURL(_ url: String) -> (tls: Bool, host: String, port: UInt16)? {
        let tls = url.hasPrefix("https://")
        guard tls || url.hasPrefix("http://") else { return nil }
        var rest = url.dropFirst(tls ? 8 : 7)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var port: UInt16 = tls ? 443 : 80
        if let colon = rest.lastIndex(of: ":") {
            let digits = rest[rest.index(after: colon)...]
            guard digits.utf8.count <= 5, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let p = UInt16(digits), p > 0 else { return nil }
            port = p
            rest = rest[..<colon]
        }
        let host = String(rest)
        guard !host.isEmpty, host.utf8.count <= 253,
              host.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 46 })
        else { return nil }
        return (tls, host, port)
    }

    public func disconnect() {
        if let s = session { hal_tls_conn_free(s); session = nil }
        if fd >= 0 { close(fd); fd = -1 }
        inbox.removeAll(keepingCapacity: true)
    }

    /// Sends one request and reads its answer. A failure closes the connection; the next call reconnects.
    public func send(method: String, target: String, headers: [(String, String)], body: UnsafeRawBufferPointer) throws(Failure) -> Response {
        try send(method: method, target: target, headers: { headers }, body: body)
    }

    /// Sends one request. A kept-alive connection the service closed meanwhile (its idle timeout) fails
    /// before a byte of the answer; then the request goes once more on a new connection, with headers
    /// made anew (a signed request needs a fresh number).
    /// `processedBytes`: what the service works through before it answers, beyond the body (a finished
    /// file's size); the wait for the answer grows by it at `minimumAnswerRate`.
    public func send(method: String, target: String, headers: () -> [(String, String)], body: UnsafeRawBufferPointer,
                     processedBytes: Int = 0) throws(Failure) -> Response {
        let reused = fd >= 0
        do throws(Failure) {
            return try attempt(method: method, target: target, headers: headers(), body: body, processedBytes: processedBytes)
        } catch {
            guard reused, !answerStarted else { throw error }
            return try attempt(method: method, target: target, headers: headers(), body: body, processedBytes: processedBytes)
        }
    }

    /// Whether any byte of the current answer came: after that, a failure is not a stale connection.
    private var answerStarted = false

    private func attempt(method: String, target: String, headers: [(String, String)], body: UnsafeRawBufferPointer,
                         processedBytes: Int) throws(Failure) -> Response {
        answerStarted = false
        quietLimit = Int64(timeoutSeconds) * 1000
        do throws(Failure) {
            deadline = Self.monotonicMilliseconds() + Int64(timeoutSeconds) * 1000 + Int64(body.count / Self.minimumSendRate)
            if fd < 0 { try connect() }
            var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(body.count)\r\n"
            for (k, v) in headers { head += "\(k): \(v)\r\n" }
            head += "\r\n"
            let headBytes = Array(head.utf8)
            try headBytes.withUnsafeBufferPointer { (h) throws(Failure) in try write(UnsafeRawBufferPointer(h)) }
            try write(body)
            // The whole answer (small JSON) within the timeout, however it is dribbled, plus the time the
            // service may take over the bytes it must hash and store first.
            quietLimit = Int64(timeoutSeconds) * 1000 + Int64(body.count + max(0, processedBytes)) / Int64(Self.minimumAnswerRate)
            deadline = Self.monotonicMilliseconds() + quietLimit
            return try readResponse(headOnly: method == "HEAD")
        } catch {
            disconnect()
            throw error
        }
    }

    private func connect() throws(Failure) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw Failure("\(host): cannot resolve the address")
        }
        defer { freeaddrinfo(list) }
        var lastError = ECONNREFUSED
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard s >= 0 else { lastError = errno; continue }
            if Glibc.connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
                lastError = errno
                close(s)
                continue
            }
            guard wait(s, events: Int16(POLLOUT)) else { lastError = ETIMEDOUT; close(s); continue }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0 else { lastError = err; close(s); continue }
            var one: Int32 = 1
            setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            fd = s
            if let tls { try handshake(tls) }
            return
        }
        throw Failure("\(host):\(port): \(String(cString: strerror(lastError)))")
    }

    /// The TLS handshake on the new connection, within the exchange's deadline. A certificate that does not
    /// chain to the trusted CAs or does not name `host` fails here, before a byte of the request is sent.
    private func handshake(_ tls: TLSTrust) throws(Failure) {
        var err = [CChar](repeating: 0, count: 256)
        guard let s = hal_tls_conn_new(tls.client, fd, host, &err, err.count) else {
            throw Failure("\(host):\(port): \(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        session = s
        while true {
            let r = Int(hal_tls_handshake(s))
            if r == HAL_TLS_DONE { return }
            if r == HAL_TLS_WANT_READ || r == HAL_TLS_WANT_WRITE {
                guard wait(fd, events: Int16(r == HAL_TLS_WANT_READ ? POLLIN : POLLOUT)) else {
                    throw Failure("\(host):\(port): timed out in the TLS handshake")
                }
                continue
            }
            throw Failure("\(host):\(port): \(String(cString: hal_tls_error(s)))")
        }
    }

    /// One send or receive on the connection, plain or through TLS: bytes moved (> 0), 0 when the peer
    /// closed, or the poll events to wait for before trying again; a failure throws.
    private enum Step { case moved(Int), closed, wait(Int16) }

    private func step(send: Bool, _ buffer: UnsafeMutableRawPointer, _ count: Int) throws(Failure) -> Step {
        if let s = session {
            let r = send ? hal_tls_write(s, buffer, count) : hal_tls_read(s, buffer, count)
            if r > 0 { return .moved(r) }
            switch r {
            case HAL_TLS_CLOSED: return .closed
            case HAL_TLS_WANT_READ: return .wait(Int16(POLLIN))
            case HAL_TLS_WANT_WRITE: return .wait(Int16(POLLOUT))
            default: throw Failure("\(host):\(port): \(String(cString: hal_tls_error(s)))")
            }
        }
        let n = send ? Glibc.send(fd, buffer, count, Int32(MSG_NOSIGNAL)) : recv(fd, buffer, count, 0)
        if n > 0 { return .moved(n) }
        if n == 0 { return send ? .wait(Int16(POLLOUT)) : .closed }
        if errno == EINTR { return .wait(0) }
        if errno == EAGAIN || errno == EWOULDBLOCK { return .wait(Int16(send ? POLLOUT : POLLIN)) }
        throw Failure("\(host):\(port): connection lost\(send ? " while sending" : "") (\(String(cString: strerror(errno))))")
    }

    /// Waits until `s` is ready, up to the timeout and never past the exchange's deadline; false on a timeout.
    private func wait(_ s: Int32, events: Int16) -> Bool {
        var p = pollfd(fd: s, events: events, revents: 0)
        while true {
            let left = min(quietLimit, deadline - Self.monotonicMilliseconds())
            guard left > 0 else { return false }
            let r = poll(&p, 1, Int32(clamping: left))
            if r > 0 { return true }
            if r == 0 { return false }
            if errno != EINTR { return true } // the call that follows reports the error
        }
    }

    private func write(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
        var done = 0
        while done < bytes.count {
            switch try step(send: true, UnsafeMutableRawPointer(mutating: bytes.baseAddress! + done), bytes.count - done) {
            case .moved(let n): done += n
            case .closed: throw Failure("\(host):\(port): the service closed the connection while sending")
            case .wait(let events):
                if events != 0, !wait(fd, events: events) { throw Failure("\(host):\(port): timed out sending") }
            }
        }
    }

    /// More bytes into `inbox`; throws at end of stream or timeout.
    private func fill() throws(Failure) {
        while true {
            switch try step(send: false, readBuffer.baseAddress!, readBuffer.count) {
            case .moved(let n): inbox += readBuffer[0..<n]; answerStarted = true; return
            case .closed: throw Failure("\(host):\(port): the service closed the connection")
            case .wait(let events):
                if events != 0, !wait(fd, events: events) { throw Failure("\(host):\(port): timed out waiting for the answer") }
            }
        }
    }

    /// The index just past the first CRLF at or after `from` in `inbox`, reading more as needed.
    private func line(from start: Int, limit: Int) throws(Failure) -> Int {
        var i = start
        while true {
            while i + 1 < inbox.count {
                if inbox[i] == 13 && inbox[i + 1] == 10 { return i + 2 }
                i += 1
            }
            guard inbox.count - start <= limit else { throw Failure("\(host):\(port): answer line too long") }
            try fill()
        }
    }

    private func take(_ n: Int) throws(Failure) -> [UInt8] {
        while inbox.count < n { try fill() }
        let out = Array(inbox[0..<n])
        inbox.removeFirst(n)
        return out
    }

    private func readResponse(headOnly: Bool) throws(Failure) -> Response {
        // Status line and headers, bounded.
        var end = 0
        var lines: [[UInt8]] = []
        while true {
            let next = try line(from: end, limit: Self.maxHeaderBytes)
            guard next <= Self.maxHeaderBytes else { throw Failure("\(host):\(port): answer headers too large") }
            if next - end == 2 { end = next; break }
            lines.append(Array(inbox[end..<(next - 2)]))
            end = next
        }
        inbox.removeFirst(end)
        guard let statusLine = lines.first.map({ String(decoding: $0, as: UTF8.self) }) else { throw Failure("no status line") }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "HTTP/1.1" || parts[0] == "HTTP/1.0", parts[1].count == 3,
              let status = Int(parts[1]), (100...599).contains(status) else {
            throw Failure("\(host):\(port): not an HTTP answer")
        }
        var length: Int?
        var chunked = false
        var closeAfter = parts[0] == "HTTP/1.0"
        for l in lines.dropFirst() {
            let text = String(decoding: l, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else { throw Failure("\(host):\(port): malformed answer header") }
            let name = text[..<colon].lowercased()
            let value = text[text.index(after: colon)...].trimmingCharacters(in: " \t")
            switch name {
            case "content-length":
                guard length == nil, value.count <= 10, value.allSatisfy(\.isASCIIDigit), let n = Int(value) else {
                    throw Failure("\(host):\(port): bad Content-Length")
                }
                length = n
            case "transfer-encoding": chunked = value.lowercased() == "chunked"
            case "connection": if value.lowercased() == "close" { closeAfter = true }
            default: break
            }
        }
        var body: [UInt8] = []
        if headOnly || status == 204 || status == 304 {
        } else if chunked {
            while true {
                let next = try line(from: 0, limit: 64)
                let sizeText = String(decoding: inbox[0..<(next - 2)], as: UTF8.self).split(separator: ";").first ?? ""
                // Hex digits only: `Int(_:radix:)` also takes a sign, and a negative size must not reach `take`.
                guard !sizeText.isEmpty, sizeText.count <= 8, sizeText.allSatisfy(\.isHexDigit), let size = Int(sizeText, radix: 16) else {
                    throw Failure("\(host):\(port): bad chunk size")
                }
                inbox.removeFirst(next)
                if size == 0 {
                    // Trailers end with an empty line.
                    while true {
                        let t = try line(from: 0, limit: Self.maxHeaderBytes)
                        inbox.removeFirst(t)
                        if t == 2 { break }
                    }
                    break
                }
                guard body.count + size <= Self.maxResponseBytes else { throw Failure("\(host):\(port): answer too large") }
                body += try take(size)
                guard try take(2) == [13, 10] else { throw Failure("\(host):\(port): bad chunk end") }
            }
        } else if let n = length {
            guard n <= Self.maxResponseBytes else { throw Failure("\(host):\(port): answer too large (\(n) bytes)") }
            body = try take(n)
        } else {
            throw Failure("\(host):\(port): answer without a length")
        }
        if closeAfter { disconnect() }
        return Response(status: status, body: body)
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

private extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
