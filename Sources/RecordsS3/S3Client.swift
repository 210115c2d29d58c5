import AsyncHTTPClient
import BodycamEvidence
import Crypto
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// NIO has an `IOError` too: the store's errors are always the evidence library's.
public typealias IOError = BodycamEvidence.IOError

/// The few S3 calls the blob store makes, path-style (`endpoint/bucket/key`), signed with SigV4 over the
/// body's SHA-256. Blocking: the `BlobStore` protocol is synchronous and is only ever called from
/// `Blocking.run` threads or the admin CLI's main thread, never from an event loop, so each call waits on its
/// future. Connection errors, timeouts and 5xx answers are retried with backoff (the gateway may restart
/// under us); a 4xx never is (the request itself is wrong, and retrying it cannot help). Every failure is an
/// `IOError` naming the S3 error code and message.
public final class S3Client: Sendable {
    public let location: S3Location
    let signer: SigV4Signer
    private let http: HTTPClient
    private let closed = LockedFlag()
    /// How long a request keeps being retried (connection errors, 5xx) before the error is reported.
    public let retryWindowSeconds: Double

    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]
        public func header(_ name: String) -> String? { headers.first(name: name) }
    }

    public init(location: S3Location, credentials: S3Credentials, retryWindowSeconds: Double = 90) {
        self.location = location
        signer = SigV4Signer(credentials: credentials, region: location.region)
        self.retryWindowSeconds = retryWindowSeconds
        // Our own client with a bounded pool: a few uploads at once per node, never an unbounded fan-out.
        let configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(120)),
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 8),
            decompression: .disabled)
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Closes the connection pool. Must be called off any event loop (as every call here is).
    public func shutdown() {
        guard closed.setOnce() else { return }
        try? http.syncShutdown()
    }

    deinit { shutdown() }

    /// `bucket/key` as a readable name for errors.
    public func name(_ key: String?) -> String { "s3://\(location.bucket)" + (key.map { "/" + $0 } ?? "") }

    /// Sends one request, retrying transient failures. Answers 2xx and any status in `accept`; any other
    /// status is thrown as an `IOError` carrying the S3 error code and message. `maxResponse` bounds the
    /// body read into memory (a larger one is an error, never a growing buffer). `doneAlready`, asked before
    /// each retry, ends the retries with success when the first attempt turns out to have been carried out.
    public func send(_ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                     body: [UInt8] = [], accept: Set<Int> = [], maxResponse: Int = 1 << 20,
                     signedPayloadSHA256: String? = nil, doneAlready: (() throws(IOError) -> Bool)? = nil) throws(IOError) -> Response {
        let path = "/" + S3Path.encode(location.bucket, encodeSlash: true) + (key.map { "/" + S3Path.encode($0, encodeSlash: false) } ?? "")
        let canonicalQuery = query.map { (S3Path.encode($0.0, encodeSlash: true), S3Path.encode($0.1, encodeSlash: true)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let url = location.endpoint + path + (canonicalQuery.isEmpty ? "" : "?" + canonicalQuery)
        // `signedPayloadSHA256`: the body's digest when the caller has just computed it (the gateway checks it
        // against the bytes all the same); the tests also sign another one, to see the gateway refuse it.
        let payloadSHA256 = signedPayloadSHA256 ?? SigV4Signer.sha256Hex(body)
        var extra = headers
        if !body.isEmpty {
            // Content-MD5 as well: AWS requires it on Object Lock requests, and it is one more check in transit.
            extra.append(("content-md5", Base64.encode(Array(Insecure.MD5.hash(data: body)))))
        }
        let started = Self.now()
        var attempt = 0
        while true {
            attempt += 1
            // A request whose answer was lost (the gateway restarted after doing it) must not be done twice
            // when a second time would leave a trace, e.g. a second version of a write-once blob.
            if attempt > 1, let doneAlready, try doneAlready() { return Response(status: 200, headers: HTTPHeaders(), body: []) }
            var signed = extra
            signed.append(("host", location.hostHeader))
            signed += signer.sign(method: method.rawValue, path: path, query: query, headers: signed, payloadSHA256: payloadSHA256,
                                  amzDate: SigV4Signer.amzDate(unixSeconds: Int64(Self.now())))
            let transient: String
            do {
                let request = try HTTPClient.Request(url: url, method: method, headers: HTTPHeaders(signed),
                                                     body: body.isEmpty ? nil : .bytes(body))
                let accumulator = ResponseAccumulator(request: request, maxBodySize: maxResponse)
                let r = try http.execute(request: request, delegate: accumulator, deadline: .now() + .seconds(300)).wait()
                let status = Int(r.status.code)
                let bytes = r.body.map { Array($0.readableBytesView) } ?? []
                if (200..<300).contains(status) || accept.contains(status) {
                    return Response(status: status, headers: r.headers, body: bytes)
                }
                let (code, message) = Self.errorDetail(bytes)
                let what = "s3 \(method.rawValue)\(query.isEmpty ? "" : "?" + query.map(\.0).joined(separator: "&")): HTTP \(status) \(code)\(message.isEmpty ? "" : ": " + message)"
                // Only the answers of a gateway that is overloaded or restarting are worth another try.
                guard [500, 502, 503, 504].contains(status) else { throw IOError(operation: what, path: name(key), errno: Self.errno(status: status, code: code)) }
                transient = what
            } catch let e as IOError {
                throw e
            } catch let e as ResponseAccumulator.ResponseTooBigError {
                throw IOError(operation: "s3 \(method.rawValue): answer larger than \(e.maxBodySize) bytes", path: name(key), errno: EFBIG)
            } catch {
                transient = "s3 \(method.rawValue): \(error)"
            }
            let elapsed = Self.now() - started
            guard elapsed < retryWindowSeconds else {
                throw IOError(operation: "\(transient) (gave up after \(attempt) attempts in \(Int(elapsed)) s)", path: name(key), errno: EIO)
            }
            // Exponential backoff from 100 ms, at most 5 s between attempts.
            let pause = min(5.0, 0.1 * Double(1 << min(attempt - 1, 6)))
            usleep(UInt32(pause * 1_000_000))
        }
    }

    /// The `Code` and `Message` of an S3 error body; the raw start of the body when it is not S3's XML.
    static func errorDetail(_ body: [UInt8]) -> (String, String) {
        guard !body.isEmpty else { return ("(no body)", "") }
        if let xml = try? S3XML.parse(body), xml.name == "Error" {
            return (xml.value("Code") ?? "(no code)", xml.value("Message") ?? "")
        }
        let printable = String(decoding: body.prefix(200), as: UTF8.self).filter { !$0.isNewline }
        return ("(not an S3 error document)", printable)
    }

    static func errno(status: Int, code: String) -> Int32 {
        switch (status, code) {
        case (404, _): return ENOENT
        case (403, _): return EACCES
        case (409, _): return EEXIST
        case (400, "XAmzContentSHA256Mismatch"), (400, "BadDigest"): return EBADMSG
        case (411, _), (413, _): return EFBIG
        default: return EIO
        }
    }

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A flag set once, from any thread.
final class LockedFlag: @unchecked Sendable {
    private var value = false
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    /// True the first time only.
    func setOnce() -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if value { return false }
        value = true
        return true
    }
}

enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out = [UInt8]()
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [table[Int(v >> 18)], table[Int(v >> 12 & 63)], table[Int(v >> 6 & 63)], table[Int(v & 63)]]
            i += 3
        }
        if bytes.count - i == 1 {
            let v = UInt32(bytes[i]) << 16
            out += [table[Int(v >> 18)], table[Int(v >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if bytes.count - i == 2 {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [table[Int(v >> 18)], table[Int(v >> 12 & 63)], table[Int(v >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
