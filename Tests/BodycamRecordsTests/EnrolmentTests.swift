import BodycamEvidence
import Testing
@testable import BodycamRecords

@Suite struct EnrolmentTests {
    static let week: Int64 = 7 * 86_400_000_000_000

    @Test func enrolWithTokenPinsTheKeyAndAnswersASignedPin() async throws {
        let s = try await RunningService.start()
        defer { s.stop() }
        let device = try TestDevice("DEV-000001", port: s.port)
        let token = try s.service.issueEnrolmentToken(deviceID: device.id, lifetime: Self.week)
        let reply = try await device.enrol(token: token)
        #expect(reply.status == 200, "\(reply.text)")
        let answer = try #require(reply.decode(RecordsWire.EnrolResponse.self))
        #expect(answer.isFromTokenIssuer(token: token))
        #expect(!answer.isFromTokenIssuer(token: token + "0"))
        #expect(answer.service_key == s.serviceKey.hex)
        let pin = try ServiceStatement.verify(Array(answer.pin.utf8), key: s.serviceKey)
        #expect(pin.kind == .pin && pin.deviceID == device.id && pin.deviceKey == device.identity.publicKey)
        let custody = try s.custody()
        #expect(custody.contains { $0.seq == pin.custodySeq && $0.action == .enrol && $0.actor == device.id })
        let pinned = try await s.service.catalogue.read { try $0.device("DEV-000001") }
        #expect(pinned?.key == device.identity.publicKey && pinned?.state == .enrolled)
    }

    @Test func aTokenIsSingleUse() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let token = try s.service.issueEnrolmentToken(deviceID: device.id, lifetime: Self.week)
        #expect(try await device.enrol(token: token).status == 200)
        let again = try await device.enrol(token: token)
        #expect(again.status == 403)
        #expect(again.error?.error.contains("used already") == true)
        #expect(try s.refusals().contains { $0.detail.contains("used already") })
    }

    @Test func anExpiredTokenIsRefused() async throws {
        let s = try await RunningService.start()
        defer { s.stop() }
        let device = try TestDevice("DEV-000002", port: s.port)
        let token = try s.service.issueEnrolmentToken(deviceID: device.id, lifetime: Self.week)
        s.clock.advance(seconds: 7 * 86_400 + 1)
        let reply = try await device.enrol(token: token)
        #expect(reply.status == 403)
        #expect(reply.error?.error.contains("expired") == true)
        #expect(try await s.service.catalogue.read { try $0.device("DEV-000002") } == nil)
    }

    @Test func aTokenForAnotherDeviceIsRefused() async throws {
        let s = try await RunningService.start()
        defer { s.stop() }
        let token = try s.service.issueEnrolmentToken(deviceID: "DEV-000001", lifetime: Self.week)
        let other = try TestDevice("DEV-000002", port: s.port)
        let reply = try await other.enrol(token: token)
        #expect(reply.status == 403)
        #expect(reply.error?.error.contains("another device") == true)
        // The token was not spent by the refusal: the right device can still use it.
        let right = try TestDevice("DEV-000001", port: s.port)
        #expect(try await right.enrol(token: token).status == 200)
    }

    @Test func anUnknownTokenAndAForeignDeviceJSONAreRefused() async throws {
        let s = try await RunningService.start()
        defer { s.stop() }
        let device = try TestDevice("DEV-000001", port: s.port)
        #expect(try await device.enrol(token: "00").status == 403)
        // device.json of one camera, signed by another's key: not the key it presents.
        let token = try s.service.issueEnrolmentToken(deviceID: device.id, lifetime: Self.week)
        let thief = try TestDevice("DEV-000001", port: s.port)
        let body = RecordsWire.encode(RecordsWire.EnrolRequest(token: token, deviceJSON: String(decoding: device.identity.info.bytes, as: UTF8.self)))
        let reply = try await thief.send("POST", RecordsWire.enrolPath, body: body)
        #expect(reply.status == 403)
        #expect(try await s.service.catalogue.read { try $0.device("DEV-000001") } == nil)
    }

    @Test func reEnrolmentWithTheSameKeyIsIdempotentAndAnotherKeyNeedsARevocation() async throws {
        let s = try await RunningService.start()
        defer { s.stop() }
        let device = try TestDevice("DEV-000001", port: s.port)
        let first = try await device.enrol(token: try s.service.issueEnrolmentToken(deviceID: device.id, lifetime: Self.week))
        let second = try await device.enrol(token: try s.service.issueEnrolmentToken(deviceID: device.id, lifetime: Self.week))
        #expect(first.status == 200 && second.status == 200)
        #expect(first.decode(RecordsWire.EnrolResponse.self)?.pin == second.decode(RecordsWire.EnrolResponse.self)?.pin)

        // A new key (a replaced camera board) under the same id: refused while the old key is enrolled...
        let replaced = try TestDevice("DEV-000001", port: s.port)
        let early = try s.service.issueEnrolmentToken(deviceID: device.id, lifetime: Self.week)
        #expect(try await replaced.enrol(token: early).status == 403)
        // ...and with a token issued before the revocation.
        s.clock.advance(seconds: 1)
        try s.service.revoke(deviceID: device.id)
        #expect(try await replaced.enrol(token: early).status == 403)
        s.clock.advance(seconds: 1)
        let reply = try await replaced.enrol(token: try s.service.issueEnrolmentToken(deviceID: device.id, lifetime: Self.week))
        #expect(reply.status == 200, "\(reply.text)")
        let pin = try ServiceStatement.verify(Array(try #require(reply.decode(RecordsWire.EnrolResponse.self)).pin.utf8), key: s.serviceKey)
        #expect(pin.deviceKey == replaced.identity.publicKey)
        // The old key is no longer accepted.
        let old = try await device.send("POST", RecordsWire.dockPath)
        #expect(old.status == 403)
    }
}
