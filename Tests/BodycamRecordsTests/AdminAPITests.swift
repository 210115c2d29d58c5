import BodycamEvidence
import Foundation
import Testing
@testable import BodycamRecords

/// `POST /v1/officers` and `POST /v1/devices/ID/enrol-token`: provisioning over the network for the admin
/// role only, repeatable (409 for what exists), each change in the custody log under the user's name.
@Suite struct AdminAPITests {
    func post(_ s: RunningService, _ target: String, token: String?, json: String = "") async throws -> HTTPReply {
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return try await HTTPClient.send(port: s.port, method: "POST", target: target, headers: headers, body: Array(json.utf8))
    }

    @Test func anAdministratorProvisionsOfficersAndEnrolmentTokensAndNobodyElseCan() async throws {
        let s = try await RunningService.start()
        defer { s.stop() }
        try s.service.addOfficer(id: "PC-0", name: "Zero", trained: true)
        let admin = try s.service.addUser(name: "desk", role: .admin, officer: nil)
        let sup = try s.service.addUser(name: "sarge", role: .supervisor, officer: nil)
        let officer = try s.service.addUser(name: "zero", role: .officer, officer: "PC-0")
        let body = #"{"officer":"PC-7","name":"Seven","trained":true}"#

        // Who may not: nobody without a token, no supervisor, no officer; nothing changes.
        #expect(try await post(s, "/v1/officers", token: nil, json: body).status == 401)
        #expect(try await post(s, "/v1/officers", token: "not-a-token", json: body).status == 401)
        #expect(try await post(s, "/v1/officers", token: sup, json: body).status == 403)
        #expect(try await post(s, "/v1/officers", token: officer, json: body).status == 403)
        #expect(try await post(s, "/v1/devices/CAM-1/enrol-token", token: sup).status == 403)
        #expect(try await s.service.catalogue.read { try $0.officer("PC-7") } == nil)

        // The administrator may, once; the same again is 409 and changes nothing.
        let added = try await post(s, "/v1/officers", token: admin, json: body)
        #expect(added.status == 200, "\(added.text)")
        #expect(try await s.service.catalogue.read { try $0.officer("PC-7") } == OfficerRecord(officerID: "PC-7", name: "Seven", trained: true, active: true))
        #expect(try await post(s, "/v1/officers", token: admin, json: body).status == 409)

        // Hostile or malformed requests are refused with a reason, never half applied.
        for bad in [#"{"officer":"../x","name":"N","trained":true}"#, #"{"officer":"PC-8","name":"","trained":true}"#,
                    #"{"officer":"PC-8"}"#, "not json", String(repeating: "x", count: 5000)] {
            let r = try await post(s, "/v1/officers", token: admin, json: bad)
            #expect([400, 413].contains(r.status), "\(bad.prefix(40)): \(r.status) \(r.text)")
        }
        #expect(try await s.service.catalogue.read { try $0.officer("PC-8") } == nil)
        #expect(try await post(s, "/v1/devices/bad%2Fid/enrol-token", token: admin).status == 400)

        // An enrolment token: stored hashed, for that device, names this service's key.
        let t = try await post(s, "/v1/devices/CAM-1/enrol-token", token: admin)
        #expect(t.status == 200, "\(t.text)")
        let token = try #require(try JSONSerialization.jsonObject(with: Data(t.body)) as? [String: String])["token"]
        let stored = try await s.service.catalogue.read { try $0.token(sha256: Secrets.hash(token ?? "")) }
        #expect(stored?.deviceID == "CAM-1" && stored?.usedUTC == nil)
        #expect(!t.text.contains(stored?.sha256 ?? "-"))

        // Custody names the administrator who did it.
        let entries = try s.custody()
        #expect(entries.contains { $0.actor == "desk" && $0.action == .officer && $0.officer == "PC-7" })
        #expect(entries.contains { $0.actor == "desk" && $0.action == .enrol && $0.deviceID == "CAM-1" })
    }
}
