import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// The camera's side of the records protocol, without a service: request signatures, service statements,
/// the enrolment file, and the HTTP client against answers a hostile or broken server could give.
struct RecordsClientTests {
    static func identity(_ id: String = "BWV-0001") throws -> DeviceIdentity {
        try DeviceIdentity.create(stateDirectory: TestSupport.temporaryDirectory("identity"), deviceID: id, utcNow: 0)
    }

    @Test func requestSignaturesRoundTripAndBindEverything() throws {
        let me = try Self.identity()
        let body = Array("hello".utf8)
        let sig = body.withUnsafeBytes { RequestSignature.sign(me, method: "PUT", target: "/v1/x?offset=0", seq: 7, body: $0) }
        let parsed = try #require(RequestSignature.parse(sig.header))
        #expect(parsed == sig)
        let digest = Hex.sha256(body)
        #expect(parsed.isValid(key: me.publicKey, method: "PUT", target: "/v1/x?offset=0", bodySHA256: digest))
        // Any change to what was signed fails.
        #expect(!parsed.isValid(key: me.publicKey, method: "POST", target: "/v1/x?offset=0", bodySHA256: digest))
        #expect(!parsed.isValid(key: me.publicKey, method: "PUT", target: "/v1/x?offset=1", bodySHA256: digest))
        #expect(!parsed.isValid(key: me.publicKey, method: "PUT", target: "/v1/x?offset=0", bodySHA256: Hex.sha256([1])))
        var replayed = parsed
        replayed.seq = 8
        #expect(!replayed.isValid(key: me.publicKey, method: "PUT", target: "/v1/x?offset=0", bodySHA256: digest))
        #expect(!parsed.isValid(key: try Self.identity().publicKey, method: "PUT", target: "/v1/x?offset=0", bodySHA256: digest))
    }

    @Test func requestSignatureHeadersParseTotally() {
        let good = "Bodycam-Ed25519 device=BWV-0001 seq=12 sig=" + String(repeating: "A", count: 86) + "=="
        #expect(RequestSignature.parse(good) != nil)
        for bad in ["", "Bodycam-Ed25519", "Basic abc", good + " ", " " + good, good.replacingOccurrences(of: "seq=12", with: "seq=012"),
                    good.replacingOccurrences(of: "seq=12", with: "seq=-1"), good.replacingOccurrences(of: "seq=12", with: "seq=99999999999999999999"),
                    good.replacingOccurrences(of: "device=BWV-0001", with: "device=../x"), good.replacingOccurrences(of: "==", with: "=")] {
            #expect(RequestSignature.parse(bad) == nil, "\(bad)")
        }
        var rng = SplitMix64(seed: 11)
        for _ in 0..<2000 {
            var chars = Array(good)
            for _ in 0..<3 { chars[Int(rng.next() % UInt64(chars.count))] = Character(UnicodeScalar(UInt8(rng.next() % 128))) }
            _ = RequestSignature.parse(String(chars)) // never traps
        }
    }

    @Test func serviceStatementsVerifyOnlyWithTheirKeyAndUnchanged() throws {
        let service = try Self.identity("RECORDS")
        let s = ServiceStatement(kind: .receipt, service: service.publicKey.fingerprint, deviceID: "BWV-0001", utc: 1_000_000_000,
                                 custodySeq: 4, recordingID: "BWV-0001-000001", manifestSHA256: String(repeating: "a", count: 64))
        let bytes = s.signed(service.sign)
        #expect(try ServiceStatement.verify(bytes, key: service.publicKey) == s)
        #expect(throws: EvidenceError.self) { try ServiceStatement.verify(bytes, key: try Self.identity().publicKey) }
        for i in stride(from: 0, to: bytes.count - 1, by: 7) {
            var b = bytes
            b[i] ^= 0x01
            #expect(throws: EvidenceError.self) { try ServiceStatement.verify(b, key: service.publicKey) }
        }
        // A receipt must name a recording; a pin must carry a key.
        let bare = ServiceStatement(kind: .receipt, service: "x", deviceID: "BWV-0001", utc: 0, custodySeq: 1)
        #expect(throws: EvidenceError.self) { try ServiceStatement.verify(bare.signed(service.sign), key: service.publicKey) }
    }

    @Test func theEnrolmentFileIsTrustedOnlyIfItsPinIsOfThisCamera() throws {
        let service = try Self.identity("RECORDS")
        let me = try Self.identity()
        let pin = ServiceStatement(kind: .pin, service: service.publicKey.fingerprint, deviceID: me.deviceID, utc: 0, custodySeq: 1,
                                   deviceKey: me.publicKey).signed(service.sign)
        let e = RecordsEnrolment(serviceKey: service.publicKey, pin: pin)
        #expect(try RecordsEnrolment.parse(e.bytes, device: me.info) == e)
        // Someone else's pin, another service key, or an edit: not enrolled.
        let other = try Self.identity()
        #expect(throws: EvidenceError.self) { try RecordsEnrolment.parse(e.bytes, device: other.info) }
        #expect(throws: EvidenceError.self) {
            try RecordsEnrolment.parse(RecordsEnrolment(serviceKey: other.publicKey, pin: pin).bytes, device: me.info)
        }
        var edited = e.bytes
        edited[5] = UInt8(ascii: "x")
        #expect(throws: EvidenceError.self) { try RecordsEnrolment.parse(edited, device: me.info) }
        #expect(throws: EvidenceError.self) { try RecordsEnrolment.parse([], device: me.info) }
    }

    @Test func enrolmentAnswersMustProveTheToken() throws {
        let service = try Self.identity("RECORDS")
        let pin = Array("pin line\n".utf8)
        let r = RecordsWire.EnrolResponse(serviceKey: service.publicKey, pin: pin, token: "token-123456")
        #expect(r.isFromTokenIssuer(token: "token-123456"))
        #expect(!r.isFromTokenIssuer(token: "token-123457"))
    }

    @Test func recordsURLsAreStrict() {
        func parsed(_ url: String) -> String? { HTTPClient.parseURL(url).map { "\($0.tls ? "tls" : "tcp") \($0.host) \($0.port)" } }
        #expect(parsed("http://127.0.0.1:8640") == "tcp 127.0.0.1 8640")
        #expect(parsed("http://records.example:80/") == "tcp records.example 80")
        #expect(parsed("https://records.example:8443") == "tls records.example 8443")
        #expect(parsed("https://records.example/") == "tls records.example 443")
        #expect(parsed("http://records.example") == "tcp records.example 80")
        for bad in ["https://:1", "http://:80", "http://h:0", "http://h:99999", "http://h:+80", "http://h:", "http://h:80/path",
                    "http://a b:80", "ftp://h:1", "https//h:1", "HTTPS://h:1", "https://h:1:2"] {
            #expect(HTTPClient.parseURL(bad)?.host == nil, "\(bad)")
        }
    }

    // MARK: - The HTTP client against canned answers

    /// A one-shot server on loopback that answers the first request with `answer`, then closes.
    final class CannedServer: @unchecked Sendable {
        let port: UInt16
        private let fd: Int32
        private let thread: Thread

        init(answer: [UInt8]) throws {
            let (s, listenerPort) = TestSupport.loopbackListener(backlog: 4)
            fd = s
            port = listenerPort
            thread = Thread {
                let c = accept(s, nil, nil)
                guard c >= 0 else { return }
                var buf = [UInt8](repeating: 0, count: 65536)
                _ = recv(c, &buf, buf.count, 0) // the request (small)
                _ = answer.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                shutdown(c, Int32(SHUT_WR))
                usleep(100_000)
                close(c)
            }
            thread.start()
        }

        deinit { close(fd) }
    }

    func ask(_ answer: String) throws -> Result<HTTPClient.Response, HTTPClient.Failure> {
        let server = try CannedServer(answer: Array(answer.utf8))
        let client = HTTPClient(host: "127.0.0.1", port: server.port, timeoutSeconds: 5)
        do throws(HTTPClient.Failure) {
            return .success(try client.send(method: "GET", target: "/", headers: [], body: UnsafeRawBufferPointer(start: nil, count: 0)))
        } catch { return .failure(error) }
    }

    @Test func theClientReadsLengthAndChunkedAnswers() throws {
        let plain = try ask("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        #expect(try plain.get() == HTTPClient.Response(status: 200, body: Array("hello".utf8)))
        let chunked = try ask("HTTP/1.1 507 Insufficient Storage\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
        #expect(try chunked.get() == HTTPClient.Response(status: 507, body: Array("abcde".utf8)))
    }

    @Test func theClientRefusesBrokenOrHugeAnswersWithAClearError() throws {
        let bad = [
            "", "garbage\r\n\r\n", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFF\r\n",
            "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 20000) + "\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ]
        for answer in bad {
            guard case .failure(let f) = try ask(answer) else {
                Issue.record("accepted: \(answer.prefix(60))")
                continue
            }
            #expect(!f.message.isEmpty)
        }
    }

    /// The service closes a kept-alive connection when it has been idle (its idle timeout): the next request
    /// goes again on a new connection, signed anew, instead of failing the dock or the assignment.
    @Test func aKeptAliveConnectionTheServiceClosedIsReplacedOnce() throws {
        let (s, port) = TestSupport.loopbackListener()
        defer { close(s) }
        let served = Thread {
            for n in 0..<2 {
                let c = accept(s, nil, nil)
                guard c >= 0 else { return }
                var buf = [UInt8](repeating: 0, count: 4096)
                _ = recv(c, &buf, buf.count, 0)
                let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n\(n)".utf8)
                _ = answer.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                usleep(50_000)
                close(c) // idle timeout: the connection goes after the answer
            }
        }
        served.start()
        let client = HTTPClient(host: "127.0.0.1", port: port, timeoutSeconds: 5)
        var signed = 0
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let first = try client.send(method: "GET", target: "/", headers: { signed += 1; return [("X-N", "\(signed)")] }, body: empty)
        #expect(first.body == Array("0".utf8))
        usleep(200_000)
        let second = try client.send(method: "GET", target: "/", headers: { signed += 1; return [("X-N", "\(signed)")] }, body: empty)
        #expect(second.body == Array("1".utf8))
        #expect(signed == 3) // the resend was signed anew
    }

    @Test func aDeadServiceIsAFailureNotAHang() throws {
        // A port nobody listens on (any more).
        let (s, listenerPort) = TestSupport.loopbackListener()
        close(s)
        let client = HTTPClient(host: "127.0.0.1", port: listenerPort, timeoutSeconds: 2)
        #expect(throws: HTTPClient.Failure.self) {
            try client.send(method: "GET", target: "/", headers: [], body: UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }
}
