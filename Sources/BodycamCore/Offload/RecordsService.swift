import BodycamEvidence
import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// Central records as a network service (`bodycam-records`, `--records https://HOST:PORT`): the camera's
/// side of the protocol in docs/RECORDS.md. Over TLS, the service's certificate must chain to `caFile`
/// (the force's CA) or, without one, to the system's store; plain `http://` is for loopback and tests.
///
/// Every request is signed with the device key and numbered (`RequestSignature`); everything the camera
/// acts on comes back signed by the service key it pinned at enrolment (check-in, assignment, receipts).
/// The first dock enrols with the one-time token an administrator issued; the enrolment is kept in
/// `state/records-enrolment`, so later docks need no token.
public final class RecordsService: RecordsTarget {
    public let location: String
    private let client: HTTPClient
    private let identity: DeviceIdentity
    private let stateDirectory: String
    private let enrolToken: String?
    private var enrolment: RecordsEnrolment?
    private var seq: UInt64
    /// The highest request number the camera will use. A service's `last_seq` (an unsigned answer anyone
    /// on the path can forge) above it is refused: followed, it would trap at UInt64.max, or, once the real
    /// service accepted a request numbered near it, lock this camera out for good (no number above is left).
    /// Far above any real count (the UTC milliseconds x 1000 the numbers start from).
    static let maxSeq: UInt64 = 1 << 62

    public var receiptKey: PublicKey? { enrolment?.serviceKey }
    public var isEnrolled: Bool { enrolment != nil }

    /// - Parameter utcNow: the camera's UTC now (milliseconds), which seeds request numbers so they rise
    ///   across restarts without being stored; the service tells a camera that fell behind where to go on.
    public init(url: String, identity: DeviceIdentity, stateDirectory: String, enrolToken: String?, caFile: String? = nil,
                utcNow: Int64) throws(RecordsError) {
        guard let (tls, host, port) = HTTPClient.parseURL(url) else {
            throw RecordsError("--records \(url.prefix(200)): expected https://HOST:PORT or http://HOST:PORT (a folder path for a local records folder)")
        }
        guard tls || caFile == nil else { throw RecordsError("--records-ca: only for an https:// records service") }
        var trust: TLSTrust?
        if tls {
            do { trust = try TLSTrust(caFile: caFile) } catch { throw RecordsError("--records-ca: \(error.message)") }
        }
        if let t = enrolToken, !(8...128).contains(t.utf8.count) || !t.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) {
            throw RecordsError("--enrol-token: 8 to 128 printable characters")
        }
        location = url
        client = HTTPClient(host: host, port: port, tls: trust)
        self.identity = identity
        self.stateDirectory = stateDirectory
        self.enrolToken = enrolToken
        enrolment = RecordsEnrolment.load(stateDirectory: stateDirectory, device: identity.info)
        seq = UInt64(max(1, utcNow)) * 1000
    }

    // MARK: - Requests

    private struct Answer {
        var status: Int
        var body: [UInt8]
        var error: String {
            RecordsWire.decode(RecordsWire.ErrorBody.self, body)?.error ?? "HTTP \(status)"
        }
    }

    /// Busy answers (503: the node is at its limit of uploads at once) waited out during this dock, and
    /// the seconds waited: reported with the offload's outcome.
    public private(set) var busy = (answers: 0, seconds: 0)
    /// The most a dock waits out busy answers in all before the offload stops (recordings stay on the camera).
    static let maxBusySeconds = 600

    /// One signed request. A stale sequence number (the service saw a higher one) is corrected once; a
    /// busy node's answer is waited out for the `retry_after` it asks (1 to 60 s) and the request sent again,
    /// up to `maxBusySeconds` a dock. `processedBytes`: what the service hashes and stores before it answers.
    private func request(_ method: String, _ target: String, body: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                         processedBytes: Int = 0) throws(RecordsError) -> Answer {
        var renumbered = false
        while true {
            guard seq < Self.maxSeq else { throw RecordsError("records service \(location): request numbers used up (\(seq))") }
            let r: HTTPClient.Response
            // Signed per attempt: a resend on a new connection carries a new number.
            let headers = { [self] () -> [(String, String)] in
                seq += 1
                return [("Authorization", RequestSignature.sign(identity, method: method, target: target, seq: seq, body: body).header)]
            }
            do { r = try client.send(method: method, target: target, headers: headers, body: body, processedBytes: processedBytes) } catch {
                throw RecordsError("records service \(location): \(error.message)")
            }
            let answer = Answer(status: r.status, body: r.body)
            let error = RecordsWire.decode(RecordsWire.ErrorBody.self, r.body)
            if r.status == 409, !renumbered, let last = error?.last_seq {
                guard last < Self.maxSeq else {
                    throw RecordsError("records service \(location): asks for request numbers above \(last): refused")
                }
                seq = max(seq, last)
                renumbered = true
                continue
            }
            if r.status == 503, let after = error?.retry_after, busy.seconds < Self.maxBusySeconds {
                let pause = Int(min(60, max(1, after)))
                busy = (busy.answers + 1, busy.seconds + pause)
                sleep(UInt32(pause))
                continue
            }
            return answer
        }
    }

    private func request(_ method: String, _ target: String, json: [UInt8]) throws(RecordsError) -> Answer {
        var out: Answer?
        var failure: RecordsError?
        json.withUnsafeBytes { b in
            do throws(RecordsError) { out = try request(method, target, body: b) } catch { failure = error }
        }
        if let failure { throw failure }
        return out!
    }

    /// A refusal (401, 403: the service will not take this device's data) or a failure (anything else).
    private func failure(_ a: Answer, _ what: String) -> RecordsError {
        switch a.status {
        case 401, 403: return RecordsError("records service refused \(what): \(a.error)", refusal: true)
        case 507: return RecordsError("records service is full: \(a.error)")
        default: return RecordsError("records service: \(what): \(a.error)")
        }
    }

    private func statement(_ a: Answer, kind: ServiceStatement.Kind, _ what: String) throws(RecordsError) -> ([UInt8], ServiceStatement) {
        guard a.status == 200 else { throw failure(a, what) }
        guard let key = enrolment?.serviceKey, let r = RecordsWire.decode(RecordsWire.StatementResponse.self, a.body) else {
            throw RecordsError("records service: \(what): not a statement")
        }
        let bytes = Array(r.statement.utf8)
        let s: ServiceStatement
        do { s = try ServiceStatement.verify(bytes, key: key) } catch {
            throw RecordsError("records service: \(what): \(error.message)", refusal: true)
        }
        guard s.kind == kind, s.deviceID == identity.deviceID else { throw RecordsError("records service: \(what): a statement of another kind or device") }
        return (bytes, s)
    }

    // MARK: - Enrolment, dock, assignment

    private func enrol() throws(RecordsError) {
        guard let token = enrolToken else {
            throw RecordsError("not enrolled at \(location): give the one-time token (--enrol-token) an administrator issued with `bodycam-records enrol \(identity.deviceID)`",
                               refusal: true)
        }
        let body = RecordsWire.encode(RecordsWire.EnrolRequest(token: token, deviceJSON: String(decoding: identity.info.bytes, as: UTF8.self)))
        let a = try request("POST", RecordsWire.enrolPath, json: body)
        guard a.status == 200 else { throw failure(a, "enrolment") }
        guard let r = RecordsWire.decode(RecordsWire.EnrolResponse.self, a.body), let key = PublicKey(hex: r.service_key) else {
            throw RecordsError("records service: enrolment: not an enrolment answer")
        }
        // Only the issuer of the token can have made this answer.
        guard r.isFromTokenIssuer(token: token) else {
            throw RecordsError("records service: the enrolment answer does not prove it knows the token: not pinned", refusal: true)
        }
        // The MAC alone proves nothing to a machine in the middle (the token was in the request): the
        // key must be the one the token names.
        guard RecordsWire.token(token, names: key) else {
            throw RecordsError("records service: the enrolment answer's key \(key.fingerprint) is not the one the token was issued by: not pinned (a token from `bodycam-records enrol` names its key)",
                               refusal: true)
        }
        let e: RecordsEnrolment
        do { e = try RecordsEnrolment.parse(RecordsEnrolment(serviceKey: key, pin: Array(r.pin.utf8)).bytes, device: identity.info) } catch {
            throw RecordsError("records service: enrolment: \(error.message)", refusal: true)
        }
        do { try e.save(stateDirectory: stateDirectory) } catch { throw RecordsError(error) }
        enrolment = e
    }

    /// Enrols on the first dock, then checks the camera in (ending any officer's assignment).
    @discardableResult
    public func admit(device: DeviceInfo) throws(RecordsError) -> [UInt8]? {
        // A new dock (one service object serves every dock of the camera's run): its own busy count and budget.
        busy = (0, 0)
        if enrolment == nil { try enrol() }
        return try statement(try request("POST", RecordsWire.dockPath), kind: .checkin, "check-in").0
    }

    /// An officer checks the docked camera out. Returns the signed assignment.
    public func assign(officer: String) throws(RecordsError) -> ([UInt8], ServiceStatement) {
        if enrolment == nil { try enrol() }
        let body = RecordsWire.encode(RecordsWire.AssignRequest(officer: officer))
        let (bytes, s) = try statement(try request("POST", RecordsWire.assignPath, json: body), kind: .assignment, "assignment of \(officer)")
        // A statement carries no binding to the request: an old assignment of another officer, replayed,
        // must not stamp that officer on this officer's footage.
        guard s.officer == officer else {
            throw RecordsError("records service: assignment of \(officer): the statement names officer \(s.officer ?? "none")", refusal: true)
        }
        return (bytes, s)
    }

    // MARK: - Files

    private func status(_ a: Answer, _ what: String) throws(RecordsError) -> RecordsWire.FileStatus {
        guard a.status == 200 else {
            throw a.status == 409 ? RecordsError("\(what): \(a.error)", refusal: true) : failure(a, what)
        }
        guard let s = RecordsWire.decode(RecordsWire.FileStatus.self, a.body), s.offset >= 0 else {
            throw RecordsError("records service: \(what): not a file status")
        }
        return s
    }

    public func stored(device: String, folder: String, file: String, sha256: String) throws(RecordsError) -> StoredFile {
        let path = RecordsWire.filePath(device: device, folder: folder, file: file)
        switch try status(try request("GET", path + "?sha256=" + sha256), "\(folder)/\(file)").state {
        case .absent, .partial: return .absent
        case .same: return .same
        case .different: return .different
        }
    }

    public func begin(device: String, folder: String, file: String) throws(RecordsError) -> RecordsTransfer {
        let path = RecordsWire.filePath(device: device, folder: folder, file: file)
        // Ask what is held: an interrupted upload resumes at its end.
        let s = try status(try request("GET", path + "?sha256=" + String(repeating: "0", count: 64)), "\(folder)/\(file)")
        return Transfer(service: self, path: path, name: "\(folder)/\(file)", offset: s.state == .partial ? s.offset : 0)
    }

    final class Transfer: RecordsTransfer {
        let service: RecordsService
        let path: String
        let name: String
        private(set) var offset: Int
        private(set) var receipt: [UInt8]?

        init(service: RecordsService, path: String, name: String, offset: Int) {
            (self.service, self.path, self.name, self.offset) = (service, path, name, offset)
        }

        func append(_ bytes: UnsafeRawBufferPointer) throws(RecordsError) {
            var at = 0
            while at < bytes.count {
                let n = min(RecordsWire.maxChunkBytes, bytes.count - at)
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)])
                let s = try service.status(try service.request("PUT", path + "?offset=\(offset)", body: chunk), name)
                guard s.offset == offset + n else { throw RecordsError("records service: \(name): holds \(s.offset) bytes after a write to \(offset + n)") }
                offset += n
                at += n
            }
        }

        func finish(sha256: String) throws(RecordsError) -> Bool {
            let a = try service.request("POST", path + "?sha256=" + sha256, processedBytes: offset)
            if a.status == 422 { return false }
            guard a.status == 200 else { throw service.failure(a, name) }
            if let r = RecordsWire.decode(RecordsWire.StatementResponse.self, a.body) {
                receipt = Array(r.statement.utf8)
                return true
            }
            return try service.status(a, name).state == .same
        }

        func abandon() {}
    }
}
