import BodycamEvidence
import Testing
@testable import BodycamRecords

@Suite struct AssignmentTests {
    @Test func onlyAKnownActiveTrainedOfficerMayCheckACameraOut() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        try s.service.addOfficer(id: "PC-1", name: "Trained Active", trained: true)
        try s.service.addOfficer(id: "PC-2", name: "Untrained", trained: false)
        try s.service.addOfficer(id: "PC-3", name: "Gone", trained: true)
        try s.service.deactivateOfficer(id: "PC-3")
        func assign(_ officer: String) async throws -> HTTPReply {
            try await device.send("POST", RecordsWire.assignPath, body: RecordsWire.encode(RecordsWire.AssignRequest(officer: officer)))
        }
        for (officer, why) in [("PC-9", "not known"), ("PC-2", "not trained"), ("PC-3", "not active")] {
            let reply = try await assign(officer)
            #expect(reply.status == 403)
            #expect(reply.error?.error.contains(why) == true, "\(reply.text)")
        }
        let ok = try await assign("PC-1")
        #expect(ok.status == 200, "\(ok.text)")
        let a = try statement(ok, key: s.serviceKey)
        #expect(a.kind == .assignment && a.officer == "PC-1" && a.deviceID == device.id)
        #expect(try await s.service.catalogue.read { try $0.device(device.id) }?.officer == "PC-1")
        // Once trained, PC-2 may.
        try s.service.trainOfficer(id: "PC-2")
        #expect(try await assign("PC-2").status == 200)
        // Docking ends the assignment.
        let dock = try await device.send("POST", RecordsWire.dockPath)
        let c = try statement(dock, key: s.serviceKey)
        #expect(c.kind == .checkin && c.officer == "PC-2")
        #expect(try await s.service.catalogue.read { try $0.device(device.id) }?.officer == nil)
        let custody = try s.custody()
        #expect(custody.first { $0.seq == a.custodySeq }?.action == .assign)
        #expect(custody.first { $0.seq == c.custodySeq }?.action == .checkin)
        #expect(custody.filter { $0.action == .refused }.count == 3)
    }
}

@Suite struct PeopleAPITests {
    struct Summary: Decodable { var recording_id: String; var officer: String?; var device_id: String; var trigger: String; var markers: Int }

    func get(_ s: RunningService, _ target: String, token: String) async throws -> HTTPReply {
        try await HTTPClient.send(port: s.port, method: "GET", target: target, headers: [("Authorization", "Bearer \(token)")])
    }

    @Test func officersSeeOnlyTheirOwnRecordingsAndSupervisorsSeeAll() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        try s.service.addOfficer(id: "PC-1", name: "One", trained: true)
        try s.service.addOfficer(id: "PC-2", name: "Two", trained: true)
        let one = try s.service.addUser(name: "one", role: .officer, officer: "PC-1")
        let sup = try s.service.addUser(name: "sarge", role: .supervisor, officer: nil)
        let r1 = SyntheticRecording.make(device.identity, number: 1, officer: "PC-1", trigger: "button", segments: 1, start: "2026-03-01T08:00:00Z")
        let r2 = SyntheticRecording.make(device.identity, number: 2, officer: "PC-2", trigger: "holster", segments: 1, start: "2026-03-02T08:00:00Z", markers: 1)
        #expect(try await device.upload(r1).status == 200)
        #expect(try await device.upload(r2).status == 200)

        let mine = try #require(try await get(s, "/v1/recordings", token: one).decode([Summary].self))
        #expect(mine.map(\.recording_id) == [r1.id])
        #expect(try await get(s, "/v1/recordings?officer=PC-2", token: one).status == 403)
        #expect(try await get(s, "/v1/recordings/\(r2.id)", token: one).status == 404)
        let manifest = try await get(s, "/v1/recordings/\(r1.id)", token: one)
        #expect(manifest.status == 200)
        #expect(manifest.body == r1.manifestBytes)

        let all = try #require(try await get(s, "/v1/recordings", token: sup).decode([Summary].self))
        #expect(Set(all.map(\.recording_id)) == [r1.id, r2.id])
        #expect(try await get(s, "/v1/recordings?trigger=holster", token: sup).decode([Summary].self)?.map(\.recording_id) == [r2.id])
        #expect(try await get(s, "/v1/recordings?officer=PC-1", token: sup).decode([Summary].self)?.map(\.recording_id) == [r1.id])
        #expect(try await get(s, "/v1/recordings?device=DEV-000001&from=2026-03-02T00:00:00Z", token: sup).decode([Summary].self)?.map(\.recording_id) == [r2.id])
        #expect(try await get(s, "/v1/recordings?to=2026-03-01T12:00:00Z", token: sup).decode([Summary].self)?.map(\.recording_id) == [r1.id])
        #expect(try await get(s, "/v1/recordings?marker=1", token: sup).decode([Summary].self)?.map(\.recording_id) == [r2.id])
        #expect(try await get(s, "/v1/recordings?from=yesterday", token: sup).status == 400)
        #expect(try await get(s, "/v1/recordings/\(r2.id)", token: sup).body == r2.manifestBytes)
        let segment = try await get(s, "/v1/recordings/\(r2.id)/segments/1", token: sup)
        #expect(segment.status == 200)
        #expect(segment.body == r2.segments[0].bytes)
        #expect(try await get(s, "/v1/recordings", token: "nobody").status == 401)

        let custody = try s.custody()
        #expect(custody.contains { $0.action == .view && $0.actor == "one" && $0.recordingID == r1.id })
        #expect(custody.contains { $0.action == .view && $0.actor == "sarge" && $0.recordingID == r2.id })
        #expect(custody.contains { $0.action == .download && $0.actor == "sarge" && $0.recordingID == r2.id })
    }
}
