import BodycamEvidence
import Foundation
import Hummingbird
import Synchronization
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

/// A clock the test moves: token expiry without waiting.
final class TestClock: Sendable {
    private let value = Mutex<Int64>(UTC.parse("2026-03-01T09:00:00Z") ?? 0)
    var now: Int64 { value.withLock { $0 } }
    func advance(seconds: Int64) { value.withLock { $0 += seconds * 1_000_000_000 } }
}

enum TestFolders {
    static func make(_ name: String = #function) -> String {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let path = NSTemporaryDirectory() + "bodycam-records-tests/\(safe)-\(UUID().uuidString.prefix(8))"
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            Issue.record("cannot make the temporary folder \(path): \(error)")
        }
        return path
    }

    /// Regular files under `path`, recursively (what the store holds).
    static func files(under path: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: path) else { return [] }
        var out: [String] = []
        while let item = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + item, isDirectory: &isDir), !isDir.boolValue { out.append(item) }
        }
        return out.sorted()
    }
}

/// One HTTP answer.
struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func decode<T: Decodable>(_ type: T.Type) -> T? { try? JSONDecoder().decode(T.self, from: Data(body)) }
    var error: RecordsWire.ErrorBody? { decode(RecordsWire.ErrorBody.self) }
}

/// A tiny HTTP/1.1 client over a blocking socket (run off the Swift concurrency pool): one request per
/// connection, `Connection: close`, the answer read to the end.
enum HTTPClient {
    static func send(port: Int, method: String, target: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws -> HTTPReply {
        try await Blocking.run { try sendBlocking(port: port, method: method, target: target, headers: headers, body: body) }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    static func sendBlocking(port: Int, method: String, target: String, headers: [(String, String)], body: [UInt8]) throws -> HTTPReply {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        // Generous: the whole test suite may be loading both cores.
        var tv = timeval(tv_sec: 120, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { throw Failure(description: "connect: \(errno)") }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        var hasLength = false
        for (k, v) in headers {
            head += "\(k): \(v)\r\n"
            if k.lowercased() == "content-length" { hasLength = true }
        }
        if !hasLength { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        let request = Array(head.utf8) + body
        // The server may answer (413, 403) and close before reading everything: a failed send is not an error.
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        guard let split = response.firstRange(of: Array("\r\n\r\n".utf8)) else { throw Failure(description: "no HTTP answer (\(response.count) bytes)") }
        let headText = String(decoding: response[..<split.lowerBound], as: UTF8.self)
        let lines = headText.components(separatedBy: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure(description: "bad status line") }
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var payload = Array(response[split.upperBound...])
        if fields["transfer-encoding"]?.lowercased() == "chunked" { payload = dechunk(payload) }
        return HTTPReply(status: status, headers: fields, body: payload)
    }

    static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            guard let end = bytes[i...].firstRange(of: Array("\r\n".utf8)),
                  let size = Int(String(decoding: bytes[i..<end.lowerBound], as: UTF8.self), radix: 16), size > 0 else { break }
            let start = end.upperBound
            out.append(contentsOf: bytes[start..<min(bytes.count, start + size)])
            i = start + size + 2
        }
        return out
    }
}

/// The service running in-process on 127.0.0.1, port 0, over a fresh data folder.
final class RunningService: Sendable {
    let service: RecordsService
    let clock: TestClock
    let port: Int
    let data: String
    private let task: Task<Void, any Error>

    var serviceKey: PublicKey { service.identity.publicKey }

    private init(service: RecordsService, clock: TestClock, port: Int, data: String, task: Task<Void, any Error>) {
        (self.service, self.clock, self.port, self.data, self.task) = (service, clock, port, data, task)
    }

    /// Starts a service; `blobs` wraps the folder store (to inject faults).
    static func start(_ name: String = #function, blobs wrap: (@Sendable (any BlobStore) -> any BlobStore)? = nil) async throws -> RunningService {
        let data = TestFolders.make(name)
        let clock = TestClock()
        let identity = try ServiceIdentity.load(dataDirectory: data, create: true)
        let catalogue = try SQLiteCatalogue(path: data + "/" + SQLiteCatalogue.fileName)
        let folder = try FolderBlobStore(root: data)
        let service = RecordsService(dataDirectory: data, identity: identity, catalogue: catalogue, blobs: wrap?(folder) ?? folder,
                                     clock: { clock.now })
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = try RecordsServer.application(service: service, host: "127.0.0.1", port: 0, logLevel: .critical) { _, port in continuation.yield(port) }
        let task = Task(executorPreference: ServiceExecutor.shared) { try await app.run() }
        var port = 0
        for await p in ports { port = p; break }
        return RunningService(service: service, clock: clock, port: port, data: data, task: task)
    }

    func stop() { task.cancel() }

    func custody() throws -> [CustodyEntry] { try Custody.check(service.catalogue, key: serviceKey) }

    func refusals() throws -> [CustodyEntry] { try custody().filter { $0.action == .refused } }

    func recordings() async throws -> [RecordingRecord] { try await service.catalogue.read { try $0.recordings(RecordingFilter()) } }

    /// Where a recording's retention is counted from: the later of its end and its arrival.
    func retentionStart(_ id: String) async throws -> Int64 {
        let r = try #require(try await recordings().first { $0.recordingID == id })
        return max(r.endUTC, r.receivedUTC)
    }

    /// Files in the store (blobs and uploads), relative to the data folder.
    var storedFiles: [String] { TestFolders.files(under: data + "/blobs").map { "blobs/" + $0 } + TestFolders.files(under: data + "/uploads").map { "uploads/" + $0 } }
}

/// A camera talking to the service: signs every request with its device key and counts its sequence.
final class TestDevice: Sendable {
    let identity: DeviceIdentity
    let port: Int
    private let seq = Mutex<UInt64>(0)

    init(_ id: String, port: Int, identity: DeviceIdentity? = nil) throws {
        self.port = port
        if let identity {
            self.identity = identity
        } else {
            self.identity = try DeviceIdentity.create(stateDirectory: TestFolders.make("device-\(id)"), deviceID: id,
                                                      utcNow: UTC.parse("2026-01-01T00:00:00Z") ?? 0)
        }
    }

    var id: String { identity.deviceID }
    func nextSeq() -> UInt64 { seq.withLock { $0 += 1; return $0 } }
    func setSeq(_ value: UInt64) { seq.withLock { $0 = value } }

    /// A request signed with `seq` (the next one by default).
    func send(_ method: String, _ target: String, body: [UInt8] = [], seq: UInt64? = nil, extraHeaders: [(String, String)] = []) async throws -> HTTPReply {
        let n = seq ?? nextSeq()
        let sig = body.withUnsafeBytes { RequestSignature.sign(identity, method: method, target: target, seq: n, body: $0) }
        return try await HTTPClient.send(port: port, method: method, target: target,
                                         headers: [("Authorization", sig.header)] + extraHeaders, body: body)
    }

    func enrol(token: String) async throws -> HTTPReply {
        let body = RecordsWire.encode(RecordsWire.EnrolRequest(token: token, deviceJSON: String(decoding: identity.info.bytes, as: UTF8.self)))
        return try await send("POST", RecordsWire.enrolPath, body: body)
    }

    func path(_ folder: String, _ file: String) -> String { RecordsWire.filePath(device: id, folder: folder, file: file) }

    func status(_ folder: String, _ file: String, sha256: String) async throws -> HTTPReply {
        try await send("GET", path(folder, file) + "?sha256=\(sha256)")
    }

    func put(_ folder: String, _ file: String, offset: Int, _ bytes: [UInt8]) async throws -> HTTPReply {
        try await send("PUT", path(folder, file) + "?offset=\(offset)", body: bytes)
    }

    func finish(_ folder: String, _ file: String, sha256: String) async throws -> HTTPReply {
        try await send("POST", path(folder, file) + "?sha256=\(sha256)")
    }

    /// PUT from 0 and finish with the bytes' own SHA-256.
    func upload(_ folder: String, _ file: String, _ bytes: [UInt8]) async throws -> HTTPReply {
        let put = try await put(folder, file, offset: 0, bytes)
        guard put.status == 200 else { return put }
        return try await finish(folder, file, sha256: Hex.sha256(bytes))
    }

    /// Segments, then the signature, then the manifest: the answer to the manifest's finish.
    func upload(_ r: SyntheticRecording) async throws -> HTTPReply {
        for (file, bytes) in r.segments {
            let reply = try await upload(r.id, file, bytes)
            guard reply.status == 200 else { return reply }
        }
        let sig = try await upload(r.id, r.signatureName, r.signature)
        guard sig.status == 200 else { return sig }
        return try await upload(r.id, r.manifestName, r.manifestBytes)
    }
}

/// A small recording whose segments are arbitrary bytes (the service checks hashes and sizes, not AVI).
struct SyntheticRecording {
    var manifest: RecordingManifest
    var segments: [(file: String, bytes: [UInt8])]
    var signature: [UInt8]
    var id: String { manifest.recordingID }
    var manifestBytes: [UInt8] { manifest.bytes }
    var manifestName: String { RecordingManifest.jsonName(id) }
    var signatureName: String { RecordingManifest.signatureName(id) }

    static func make(_ identity: DeviceIdentity, number: Int, officer: String? = nil, trigger: String = "button", segments count: Int = 2,
                     start: String = "2026-03-01T08:00:00Z", markers: Int = 0, signer: DeviceIdentity? = nil) -> SyntheticRecording {
        let rid = EvidenceNames.RecordingID(deviceID: identity.deviceID, number: number)
        let t0 = UTC.parse(start) ?? 0
        var segments: [(String, [UInt8])] = []
        var records: [SegmentRecord] = []
        for i in 1...count {
            var rng = SystemRandomNumberGenerator()
            let bytes = (0..<(AVILayout.headerBytes + 500 + i)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let segStart = t0 + Int64(i - 1) * 10_000_000_000
            let name = EvidenceNames.Segment(startUTC: segStart, recording: rid, index: i).fileName
            segments.append((name, bytes))
            records.append(SegmentRecord(index: i, file: name, frames: 10, bytes: bytes.count, firstSeq: UInt64(i * 10), lastSeq: UInt64(i * 10 + 9),
                                         firstUTC: segStart, lastUTC: segStart + 9_000_000_000, sha256: Hex.sha256(bytes)))
        }
        let marks = (0..<markers).map { Marker(number: $0 + 1, utc: t0 + 1_000_000_000, frameSeq: 11) }
        let manifest = RecordingManifest(deviceID: identity.deviceID, recordingID: rid.text, trigger: trigger, officer: officer, startUTC: t0,
                                         endUTC: t0 + Int64(count) * 10_000_000_000, prerecordSeconds: 0, markers: marks, segments: records,
                                         droppedFrames: 0, lostFrames: 0, complete: true, recovered: false)
        return SyntheticRecording(manifest: manifest, segments: segments, signature: (signer ?? identity).sign(manifest.bytes).fileBytes)
    }
}

/// A running service with one enrolled device: the start of most tests.
func serviceWithDevice(_ name: String = #function, deviceID: String = "DEV-000001") async throws -> (RunningService, TestDevice) {
    let s = try await RunningService.start(name)
    let device = try TestDevice(deviceID, port: s.port)
    let token = try s.service.issueEnrolmentToken(deviceID: deviceID, lifetime: 86_400_000_000_000)
    let reply = try await device.enrol(token: token)
    #expect(reply.status == 200, "enrol: \(reply.text)")
    return (s, device)
}

/// The statement in a StatementResponse, verified with the service key.
func statement(_ reply: HTTPReply, key: PublicKey) throws -> ServiceStatement {
    guard let r = reply.decode(RecordsWire.StatementResponse.self) else { throw HTTPClient.Failure(description: "not a statement: \(reply.status) \(reply.text)") }
    return try ServiceStatement.verify(Array(r.statement.utf8), key: key)
}
