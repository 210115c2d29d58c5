import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// A records node at its limit (shift change: a hundred cameras docking at one station) answers 503 with a
/// `retry_after`; the camera waits that out on the dock and sends again, and counts it. A node that is
/// working through a large body or file is given time in proportion, rather than cut off at the timeout.
struct RecordsBusyTests {
    typealias R = RecordsReviewTests

    static func busy(_ after: UInt32?) -> [UInt8] {
        R.json(503, RecordsWire.encode(RecordsWire.ErrorBody(error: "busy", retryAfter: after)))
    }

    @Test func aBusyAnswerIsWaitedOutAndTheSameRequestSentAgain() throws {
        let me = try R.identity()
        let records = try R.identity("RECORDS")
        let token = RecordsWire.enrolmentToken(secret: "token-123456", serviceKey: records.publicKey)
        let info = me.info
        let asked = R.ReviewBox<[String]>([])
        // Two busy answers, then the enrolment and the check-in.
        let server = try R.ScriptedServer { req in
            asked.value.append(req.target)
            guard asked.value.count > 2 else { return Self.busy(1) }
            if req.target == RecordsWire.dockPath {
                let checkin = ServiceStatement(kind: .checkin, service: records.publicKey.fingerprint, deviceID: info.deviceID, utc: 1_000_000_000,
                                               custodySeq: 2).signed(records.sign)
                return R.json(200, RecordsWire.encode(RecordsWire.StatementResponse(statement: checkin)))
            }
            let pin = ServiceStatement(kind: .pin, service: records.publicKey.fingerprint, deviceID: info.deviceID, utc: 1_000_000_000,
                                       custodySeq: 1, deviceKey: info.publicKey).signed(records.sign)
            return R.json(200, RecordsWire.encode(RecordsWire.EnrolResponse(serviceKey: records.publicKey, pin: pin, token: token)))
        }
        let service = try RecordsService(url: "http://127.0.0.1:\(server.port)", identity: me,
                                         stateDirectory: TestSupport.temporaryDirectory("state"), enrolToken: token, utcNow: 1_800_000_000_000)
        #expect(try service.admit(device: me.info) != nil)
        #expect(service.receiptKey == records.publicKey)
        #expect(asked.value == Array(repeating: RecordsWire.enrolPath, count: 3) + [RecordsWire.dockPath])
        #expect(service.busy.answers == 2 && service.busy.seconds == 2)
        // The next dock has its own count (and its own 10 minutes of waiting), not what is left of this one's.
        #expect(try service.admit(device: me.info) != nil)
        #expect(asked.value.last == RecordsWire.dockPath && asked.value.count == 5)
        #expect(service.busy.answers == 0 && service.busy.seconds == 0)
    }

    /// A 503 that does not say when to come back (a proxy's, a node going down) is a failure of this dock,
    /// not a reason to wait: the recordings stay on the camera for the next one.
    @Test func aBusyAnswerWithoutRetryAfterIsAFailure() throws {
        let me = try R.identity()
        let asked = R.ReviewBox(0)
        let server = try R.ScriptedServer { _ in
            asked.value += 1
            return Self.busy(nil)
        }
        let service = try RecordsService(url: "http://127.0.0.1:\(server.port)", identity: me,
                                         stateDirectory: TestSupport.temporaryDirectory("state"), enrolToken: "token-123456", utcNow: 1_800_000_000_000)
        #expect(throws: RecordsError.self) { try service.admit(device: me.info) }
        #expect(asked.value == 1)
        #expect(service.busy.answers == 0)
    }

    /// The wait for an answer grows with the bytes the service must hash and store first (1 MB/s): a 2 MB
    /// chunk answered 1.5 s after it arrived is taken with a 1 s timeout, an empty request answered as
    /// late is not.
    @Test func theWaitForAnAnswerGrowsWithTheBytesToProcess() throws {
        let server = try R.ScriptedServer { _ in
            usleep(1_500_000)
            return R.json(200, Array("{}".utf8))
        }
        let client = HTTPClient(host: "127.0.0.1", port: server.port, timeoutSeconds: 1)
        let chunk = [UInt8](repeating: 7, count: 2_000_000)
        let big = chunk.withUnsafeBytes { b in Result { () throws(HTTPClient.Failure) in try client.send(method: "PUT", target: "/", headers: [], body: b) } }
        #expect((try? big.get())?.status == 200, "\(big)")
        let empty = Result { () throws(HTTPClient.Failure) in
            try client.send(method: "POST", target: "/", headers: { [] }, body: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        guard case .failure(let f) = empty else { Issue.record("answered after 1.5 s with a 1 s timeout"); return }
        #expect(f.message.contains("timed out"), "\(f.message)")
        // A finished file's size counts as well.
        let finish = Result { () throws(HTTPClient.Failure) in
            try client.send(method: "POST", target: "/", headers: { [] }, body: UnsafeRawBufferPointer(start: nil, count: 0), processedBytes: 2_000_000)
        }
        #expect((try? finish.get())?.status == 200, "\(finish)")
    }
}
