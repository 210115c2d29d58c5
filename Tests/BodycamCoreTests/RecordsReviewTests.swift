import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Review findings on the camera's side of the records protocol: a hostile service or network answering
/// what it likes (canned and scripted answers from loopback).
struct RecordsReviewTests {
    /// A server on loopback that reads HTTP/1.1 requests (Content-Length bodies) on any number of
    /// connections and answers each with what `handler` returns (raw bytes: status line, headers, body).
    /// `stream`, if set, is called instead with the connection, to answer slowly or forever.
    final class ScriptedServer: @unchecked Sendable {
        struct Request { var method: String; var target: String; var headers: [String: String]; var body: [UInt8] }
        let port: UInt16
        private let fd: Int32
        private let stop = ReviewBox(false)

        init(handler: @escaping @Sendable (Request) -> [UInt8]?) throws {
            let (s, listenerPort) = TestSupport.loopbackListener(backlog: 8)
            fd = s
            port = listenerPort
            let stop = self.stop
            Thread {
                while !stop.value {
                    let c = accept(s, nil, nil)
                    guard c >= 0 else { return }
                    Thread { Self.serve(c, handler) }.start()
                }
            }.start()
        }

        static func serve(_ c: Int32, _ handler: (Request) -> [UInt8]?) {
            defer { close(c) }
            var inbox: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                // Head.
                var headEnd: Int?
                while headEnd == nil {
                    if let r = inbox.indices.dropLast(3).first(where: { inbox[$0] == 13 && inbox[$0 + 1] == 10 && inbox[$0 + 2] == 13 && inbox[$0 + 3] == 10 }) {
                        headEnd = r + 4
                        break
                    }
                    let n = recv(c, &buf, buf.count, 0)
                    if n <= 0 { return }
                    inbox += buf[0..<n]
                }
                let head = String(decoding: inbox[0..<headEnd!], as: UTF8.self)
                inbox.removeFirst(headEnd!)
                let lines = head.components(separatedBy: "\r\n")
                let first = lines[0].split(separator: " ")
                var headers: [String: String] = [:]
                for l in lines.dropFirst() {
                    guard let colon = l.firstIndex(of: ":") else { continue }
                    headers[l[..<colon].lowercased()] = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = Int(headers["content-length"] ?? "0") ?? 0
                while inbox.count < length {
                    let n = recv(c, &buf, buf.count, 0)
                    if n <= 0 { return }
                    inbox += buf[0..<n]
                }
                let body = Array(inbox[0..<length])
                inbox.removeFirst(length)
                guard first.count >= 2,
                      let answer = handler(Request(method: String(first[0]), target: String(first[1]), headers: headers, body: body)) else { return }
                var done = 0
                while done < answer.count {
                    let n = answer.withUnsafeBytes { send(c, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
                    if n <= 0 { return }
                    done += n
                }
            }
        }

        deinit {
            stop.value = true
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    final class ReviewBox<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var v: T
        init(_ v: T) { self.v = v }
        var value: T {
            get { lock.lock(); defer { lock.unlock() }; return v }
            set { lock.lock(); v = newValue; lock.unlock() }
        }
    }

    static func json(_ status: Int, _ body: [UInt8]) -> [UInt8] {
        Array("HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
    }

    static func identity(_ id: String = "BWV-0001") throws -> DeviceIdentity {
        try DeviceIdentity.create(stateDirectory: TestSupport.temporaryDirectory("identity"), deviceID: id, utcNow: 0)
    }

    // MARK: - HTTP client

    /// A one-shot server that writes `prefix`, then `drip` every `every` microseconds until the client goes.
    static func dribbling(prefix: String, drip: String, every: UInt32) -> (port: UInt16, close: () -> Void) {
        let (s, listenerPort) = TestSupport.loopbackListener(backlog: 4)
        Thread {
            let c = accept(s, nil, nil)
            guard c >= 0 else { return }
            defer { close(c) }
            var buf = [UInt8](repeating: 0, count: 65536)
            _ = recv(c, &buf, buf.count, 0)
            let p = Array(prefix.utf8), d = Array(drip.utf8)
            guard p.withUnsafeBytes({ send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0 else { return }
            for _ in 0..<100_000 {
                usleep(every)
                if d.withUnsafeBytes({ send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) <= 0 { return }
            }
        }.start()
        return (listenerPort, { close(s) })
    }

    func ask(port: UInt16, timeout: Int) -> Result<HTTPClient.Response, HTTPClient.Failure> {
        let client = HTTPClient(host: "127.0.0.1", port: port, timeoutSeconds: timeout)
        do throws(HTTPClient.Failure) {
            return .success(try client.send(method: "GET", target: "/", headers: [], body: UnsafeRawBufferPointer(start: nil, count: 0)))
        } catch { return .failure(error) }
    }

    /// Finding: a negative chunk size ("-1", which `Int(_, radix: 16)` accepts) made `take(-1)` build an
    /// inverted range: the camera trapped on one line from the service.
    @Test func aNegativeChunkSizeIsRefusedNotATrap() throws {
        for size in ["-1", "-0", "+5", "-10"] {
            let server = try RecordsClientTests.CannedServer(answer: Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\nabcde\r\n0\r\n\r\n".utf8))
            let r = ask(port: server.port, timeout: 3)
            guard case .failure = r else { Issue.record("accepted chunk size \(size)"); continue }
        }
    }

    /// Finding: every read waited up to the timeout anew, so a service that dribbles a byte at a time (a
    /// header, or endless trailer lines after the last chunk) held the dock link for hours.
    // Without one deadline per exchange the client never gives up on a dribbler: the time limit turns that
    // hang into a failure; the assertion is that the exchange ended on its own timeout.
    @Test(.timeLimit(.minutes(1))) func aDribblingOrEndlessAnswerEndsWithinTheTimeout() throws {
        let cases: [(String, String)] = [
            ("HTTP/1.1 200 OK\r\nX-Slow: ", "a"),                                                        // a slow header
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", "X-Trailer: y\r\n"),          // endless trailers
            ("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", "b"),                                  // a slow body
        ]
        for (prefix, drip) in cases {
            let server = Self.dribbling(prefix: prefix, drip: drip, every: 100_000)
            defer { server.close() }
            let r = ask(port: server.port, timeout: 1)
            guard case .failure(let f) = r else { Issue.record("accepted \(prefix.debugDescription)"); continue }
            #expect(f.message.contains("timed out"), "\(prefix.debugDescription): \(f.message)")
        }
    }

    // MARK: - Records service client

    /// Finding: `last_seq` in a 409 is unsigned, yet the camera jumped to it: a forged `last_seq` of
    /// UInt64.max trapped the camera (`seq += 1` overflows), and one just below it made the camera's next
    /// request (accepted by the real service) lock the device out of the records for good, as no sequence
    /// number above it exists.
    @Test func anAbsurdLastSeqIsRefusedNotFollowed() throws {
        let me = try Self.identity()
        let seen = ReviewBox<[UInt64]>([])
        for last in [UInt64.max, UInt64.max - 1, UInt64.max - 5] {
            let server = try ScriptedServer { req in
                if let h = req.headers["authorization"], let sig = RequestSignature.parse(h) { seen.value.append(sig.seq) }
                return Self.json(409, RecordsWire.encode(RecordsWire.ErrorBody(error: "stale", lastSeq: last)))
            }
            let service = try RecordsService(url: "http://127.0.0.1:\(server.port)", identity: me,
                                             stateDirectory: TestSupport.temporaryDirectory("state"), enrolToken: "token-123456",
                                             utcNow: 1_800_000_000_000)
            #expect(throws: RecordsError.self) { try service.admit(device: me.info) }
        }
        #expect(seen.value.allSatisfy { $0 < UInt64.max / 2 }, "\(seen.value)")
    }

    /// A fake records service that answers the enrolment properly for `token` with `serviceKey`, and then
    /// answers assignments with `assignment(officerAsked)`.
    static func fakeService(device me: DeviceIdentity, service: DeviceIdentity, token: String,
                            assignment: @escaping @Sendable (String) -> [UInt8]) throws -> ScriptedServer {
        let info = me.info
        return try ScriptedServer { req in
            switch req.target {
            case RecordsWire.enrolPath:
                let pin = ServiceStatement(kind: .pin, service: service.publicKey.fingerprint, deviceID: info.deviceID, utc: 1_000_000_000,
                                           custodySeq: 1, deviceKey: info.publicKey).signed(service.sign)
                return json(200, RecordsWire.encode(RecordsWire.EnrolResponse(serviceKey: service.publicKey, pin: pin, token: token)))
            case RecordsWire.assignPath:
                let asked = RecordsWire.decode(RecordsWire.AssignRequest.self, req.body)?.officer ?? ""
                return json(200, RecordsWire.encode(RecordsWire.StatementResponse(statement: assignment(asked))))
            default:
                return json(404, RecordsWire.encode(RecordsWire.ErrorBody(error: "no")))
            }
        }
    }

    /// Finding: the camera took whatever officer a signed assignment named, not the one it asked for, so an
    /// old assignment of another officer replayed by the network (statements carry no request binding)
    /// stamped that officer on the footage, which the records then show to *that* officer.
    @Test func anAssignmentMustNameTheOfficerAskedFor() throws {
        let me = try Self.identity()
        let records = try Self.identity("RECORDS")
        let token = RecordsWire.enrolmentToken(secret: "token-123456", serviceKey: records.publicKey)
        let old = ServiceStatement(kind: .assignment, service: records.publicKey.fingerprint, deviceID: me.deviceID, utc: 1_000_000_000,
                                   custodySeq: 7, officer: "PC-2").signed(records.sign)
        let server = try Self.fakeService(device: me, service: records, token: token) { _ in old }
        let service = try RecordsService(url: "http://127.0.0.1:\(server.port)", identity: me,
                                         stateDirectory: TestSupport.temporaryDirectory("state"), enrolToken: token, utcNow: 1_800_000_000_000)
        #expect(throws: RecordsError.self) { try service.assign(officer: "PC-1") }
        // The right officer is taken.
        let right = try Self.fakeService(device: me, service: records, token: token) { asked in
            ServiceStatement(kind: .assignment, service: records.publicKey.fingerprint, deviceID: me.deviceID, utc: 1_000_000_000,
                             custodySeq: 8, officer: asked).signed(records.sign)
        }
        let service2 = try RecordsService(url: "http://127.0.0.1:\(right.port)", identity: me,
                                          stateDirectory: TestSupport.temporaryDirectory("state"), enrolToken: token, utcNow: 1_800_000_000_000)
        #expect(try service2.assign(officer: "PC-1").1.officer == "PC-1")
    }

    /// Finding: the one-time token travels in clear in the enrolment request, and the answer's MAC was
    /// keyed by that same token, so anyone on the path of the first dock read the token and answered with
    /// their own service key and a valid MAC: the camera pinned the attacker's key, whose receipts then
    /// let it delete recordings the records never got. A token now names the service key it is for.
    @Test func aMachineInTheMiddleOfTheFirstDockDoesNotGetItsKeyPinned() throws {
        let me = try Self.identity()
        let real = try Self.identity("RECORDS")
        let attacker = try Self.identity("EVIL")
        let info = me.info
        let server = try ScriptedServer { req in
            guard req.target == RecordsWire.enrolPath,
                  let r = RecordsWire.decode(RecordsWire.EnrolRequest.self, req.body) else { return Self.json(404, Array("{}".utf8)) }
            // The token is right there in the request.
            let pin = ServiceStatement(kind: .pin, service: attacker.publicKey.fingerprint, deviceID: info.deviceID, utc: 1_000_000_000,
                                       custodySeq: 1, deviceKey: info.publicKey).signed(attacker.sign)
            return Self.json(200, RecordsWire.encode(RecordsWire.EnrolResponse(serviceKey: attacker.publicKey, pin: pin, token: r.token)))
        }
        for token in [RecordsWire.enrolmentToken(secret: "token-secret-1", serviceKey: real.publicKey), "token-without-a-key-hash"] {
            let state = TestSupport.temporaryDirectory("state")
            let service = try RecordsService(url: "http://127.0.0.1:\(server.port)", identity: me, stateDirectory: state,
                                             enrolToken: token, utcNow: 1_800_000_000_000)
            #expect(throws: RecordsError.self) { try service.admit(device: me.info) }
            #expect(service.receiptKey == nil)
            #expect(RecordsEnrolment.load(stateDirectory: state, device: me.info) == nil)
        }
        #expect(RecordsWire.token(RecordsWire.enrolmentToken(secret: "s", serviceKey: real.publicKey), names: real.publicKey))
        #expect(!RecordsWire.token(RecordsWire.enrolmentToken(secret: "s", serviceKey: real.publicKey), names: attacker.publicKey))
        #expect(!RecordsWire.token("", names: real.publicKey))
    }
}
