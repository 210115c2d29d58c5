import BodycamEvidence
import Foundation
import GRDB
import Testing
@testable import BodycamRecords

/// Retention categories, holds and the retention job: nothing on hold is deleted, expired recordings are
/// deleted with a custody entry each, and every change is in the custody log.
@Suite struct RetentionTests {
    struct Summary: Decodable { var recording_id: String; var category: String; var case_reference: String?; var hold: String? }

    func send(_ s: RunningService, _ method: String, _ target: String, token: String, body: String = "") async throws -> HTTPReply {
        try await HTTPClient.send(port: s.port, method: method, target: target, headers: [("Authorization", "Bearer \(token)")], body: Array(body.utf8))
    }

    @Test func aRecordingOnHoldSurvivesTheRetentionJobAndAnExpiredOneIsDeletedAndLogged() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        try s.service.addOfficer(id: "PC-1", name: "One", trained: true)
        let officer = try s.service.addUser(name: "one", role: .officer, officer: "PC-1")
        let sup = try s.service.addUser(name: "sarge", role: .supervisor, officer: nil)
        // Four recordings that ended on 1 March 2026: expired, on hold, evidential, and expired with a
        // segment whose bytes another (held) recording also holds.
        let expired = SyntheticRecording.make(device.identity, number: 1, officer: "PC-1", segments: 2)
        let held = SyntheticRecording.make(device.identity, number: 2, officer: "PC-1", segments: 1)
        let evidential = SyntheticRecording.make(device.identity, number: 3, segments: 1)
        for r in [expired, held, evidential] { #expect(try await device.upload(r).status == 200) }

        // Category and hold: officers may not; supervisors may, and each change is in the custody log.
        let refused = try await send(s, "POST", "/v1/recordings/\(evidential.id)/category", token: officer, body: #"{"category":"evidential","case":"OP-1"}"#)
        #expect(refused.status == 403)
        #expect(try await send(s, "POST", "/v1/recordings/\(held.id)/hold", token: officer, body: #"{"reason":"mine"}"#).status == 403)
        #expect(try await send(s, "POST", "/v1/recordings/\(evidential.id)/category", token: sup, body: #"{"category":"evidential"}"#).status == 400)
        let ok = try await send(s, "POST", "/v1/recordings/\(evidential.id)/category", token: sup, body: #"{"category":"evidential","case":"OP-1"}"#)
        #expect(ok.status == 200, "\(ok.text)")
        #expect(ok.decode(Summary.self)?.case_reference == "OP-1")
        #expect(try await send(s, "POST", "/v1/recordings/\(held.id)/hold", token: sup, body: #"{"reason":"complaint 42"}"#).status == 200)
        #expect(try await send(s, "POST", "/v1/recordings/\(held.id)/hold", token: sup, body: #"{"reason":"again"}"#).status == 409)
        #expect(try await send(s, "POST", "/v1/recordings/DEV-000001-000009/hold", token: sup, body: #"{"reason":"x"}"#).status == 404)
        // Malformed bodies and values are 400, never a trap.
        for body in ["{", #"{"reason":""}"#, #"{"reason":"a\u0007b"}"#, String(repeating: "x", count: 5000)] {
            #expect(try await send(s, "POST", "/v1/recordings/\(held.id)/hold", token: sup, body: body).status / 100 == 4, "\(body.prefix(40))")
        }
        #expect(try await send(s, "POST", "/v1/recordings/\(held.id)/category", token: sup, body: #"{"category":"secret"}"#).status == 400)
        #expect(try await send(s, "POST", "/v1/recordings/not-an-id/release", token: sup).status == 400)
        // The administrator's path: a hold and release of the expired one leaves it as it was.
        _ = try s.service.changeRetentionNow(recordingID: expired.id, .hold(reason: "review"))
        _ = try s.service.changeRetentionNow(recordingID: expired.id, .release)
        #expect(throws: Refusal.self) { try s.service.changeRetentionNow(recordingID: expired.id, .release) }
        #expect(throws: Refusal.self) { try s.service.changeRetentionNow(recordingID: expired.id, .category(.evidential, caseReference: nil)) }
        let changes = try s.custody().filter { [.category, .hold, .release].contains($0.action) }
        #expect(changes.map(\.action) == [.category, .hold, .hold, .release])
        #expect(changes.map(\.actor) == ["sarge", "sarge", "admin", "admin"])
        #expect(changes.map(\.recordingID) == [evidential.id, held.id, expired.id, expired.id])

        // Retention counts from the later of the end and the arrival: 30 days after nothing has expired;
        // 45 days after, the non-evidential one has.
        let end = try await s.retentionStart(expired.id)
        #expect(try s.service.runRetention(now: end + 30 * 86_400 * 1_000_000_000).deleted.isEmpty)
        let dry = try s.service.runRetention(now: end + 45 * 86_400 * 1_000_000_000, dryRun: true)
        #expect(dry.deleted.map(\.recordingID) == [expired.id])
        #expect(try await s.recordings().count == 3)
        let report = try s.service.runRetention(now: end + 45 * 86_400 * 1_000_000_000)
        #expect(report.deleted.map(\.recordingID) == [expired.id])
        #expect(report.blobsRemoved == 4) // two segments, the signature, the manifest
        for (_, bytes) in expired.segments { #expect(!s.service.blobs.hasBlob(Hex.sha256(bytes))) }
        for (_, bytes) in held.segments + evidential.segments { #expect(s.service.blobs.hasBlob(Hex.sha256(bytes))) }
        #expect(try await s.recordings().map(\.recordingID) == [held.id, evidential.id])
        #expect(try await send(s, "GET", "/v1/recordings/\(expired.id)", token: sup).status == 404)
        #expect(try await send(s, "GET", "/v1/recordings/\(expired.id)/segments/1", token: sup).status == 404)
        let listed = try #require(try await send(s, "GET", "/v1/recordings", token: sup).decode([Summary].self))
        #expect(listed.map(\.recording_id) == [held.id, evidential.id])
        #expect(listed.first?.hold == "complaint 42")
        // The tombstone keeps when and why; the custody log the deletion, and the chain still verifies.
        let tomb = try #require(try await s.service.catalogue.read { try $0.recording(expired.id) })
        #expect(tomb.deletedUTC != nil && tomb.purgedUTC != nil && tomb.deletedReason?.contains("non-evidential") == true)
        let deletions = try s.custody().filter { $0.action == .delete }
        #expect(deletions.count == 1)
        #expect(deletions.first?.recordingID == expired.id && deletions.first?.actor == "retention")
        // Deleted: no category change, hold or export any more.
        #expect(throws: Refusal.self) { try s.service.changeRetentionNow(recordingID: expired.id, .hold(reason: "too late")) }
        #expect(throws: AdminError.self) { try s.service.exportBundle(recordingIDs: [expired.id], to: TestFolders.make() + "/b", caseReference: nil, exportedBy: "x") }

        // Eight years on: the evidential one has expired too; the held one is still kept; released, it goes.
        let later = end + 8 * 366 * 86_400 * 1_000_000_000
        #expect(try s.service.runRetention(now: later).deleted.map(\.recordingID) == [evidential.id])
        _ = try s.service.changeRetentionNow(recordingID: held.id, .release)
        #expect(try s.service.runRetention(now: later).deleted.map(\.recordingID) == [held.id])
        #expect(try s.service.runRetention(now: later).deleted.isEmpty)
        #expect(try s.custody().filter { $0.action == .delete }.count == 3)
        #expect(try await s.recordings().isEmpty)
    }

    @Test func anEvidentialRecordingIsKeptSevenYearsAndAReRunRemovesLeftoverBlobs() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        #expect(try await device.upload(r).status == 200)
        _ = try s.service.changeRetentionNow(recordingID: r.id, .category(.evidential, caseReference: "OP-7"))
        let end = try await s.retentionStart(r.id), day: Int64 = 86_400 * 1_000_000_000
        #expect(try s.service.runRetention(now: end + 7 * 365 * day).deleted.isEmpty)
        #expect(try s.service.runRetention(now: end + (7 * 365 + 2) * day).deleted.map(\.recordingID) == [r.id])

        // A crash between the tombstone (with its custody entry) and the blobs: the next run removes them.
        let r2 = SyntheticRecording.make(device.identity, number: 2, segments: 1)
        #expect(try await device.upload(r2).status == 200)
        let custody = s.service.custody
        try s.service.catalogue.writeNow { tx in
            try tx.markDeleted(recordingID: r2.id, utc: 1, reason: "test: crash after the tombstone")
            try custody.append(tx, utc: 1, actor: "retention", action: .delete, recordingID: r2.id, detail: "test")
        }
        #expect(s.service.blobs.hasBlob(Hex.sha256(r2.segments[0].bytes)))
        let rerun = try s.service.runRetention(now: end)
        #expect(rerun.deleted.isEmpty && rerun.blobsRemoved == 3)
        #expect(!s.service.blobs.hasBlob(Hex.sha256(r2.segments[0].bytes)))
        #expect(try s.custody().count > 0)
    }

    @Test func theCommandsChangeRetentionAndTheJobPrintsJSON() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CommandTests.binary), "build it first: swift build")
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let a = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        let b = SyntheticRecording.make(device.identity, number: 2, segments: 1)
        for r in [a, b] { #expect(try await device.upload(r).status == 200) }
        let run = { (args: [String]) throws -> CommandTests.Output in try CommandTests.run(args + ["--data", s.data]) }
        #expect(try run(["category", a.id, "evidential"]).stderr.contains("case reference"))
        #expect(try run(["category", "nonsense", "evidential", "--case", "X"]).status == 1)
        let set = try run(["category", a.id, "evidential", "--case", "OP-9"])
        #expect(set.status == 0 && set.stdout.contains("kept until 2033"), "\(set.stdout)\(set.stderr)")
        #expect(try run(["hold", b.id, "--reason", "complaint"]).status == 0)
        let list = try run(["recordings", "--json"])
        struct Row: Decodable { var recording_id: String; var category: String; var hold: String?; var state: String; var frames: Int }
        let rows = list.stdout.split(separator: "\n").compactMap { try? JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
        #expect(rows.map(\.recording_id) == [a.id, b.id])
        #expect(rows.map(\.category) == ["evidential", "non-evidential"] && rows[1].hold == "complaint" && rows.allSatisfy { $0.state == "verified" })
        // A year on: nothing is deleted (one evidential, one held); released, the other goes.
        #expect(try run(["retention", "--now", "2027-03-01T00:00:00Z", "--json"]).stdout.contains(#""deleted":0"#))
        #expect(try run(["release", b.id]).status == 0)
        let job = try run(["retention", "--now", "2027-03-01T00:00:00Z", "--json"])
        #expect(job.status == 0)
        #expect(job.stdout.contains(#""event":"retention-deleted","recording_id":"\#(b.id)""#), "\(job.stdout)")
        #expect(try run(["recordings", "--deleted"]).stdout.contains(b.id))
        #expect(!(try run(["recordings"]).stdout.contains(b.id)))
        let custody = try s.custody()
        #expect(custody.filter { $0.actor == "admin" }.map(\.action).suffix(3) == [.category, .hold, .release])
        #expect(custody.last?.action == .delete && custody.last?.actor == "retention")
    }

    @Test func footageFromACameraWhoseClockWasWrongDoesNotExpireOnArrival() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        // The camera's clock said 2020: by its end the recording is years past 31 days, but it has only
        // just reached the records.
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1, start: "2020-01-01T08:00:00Z")
        #expect(try await device.upload(r).status == 200)
        let now = s.service.clock()
        #expect(try s.service.runRetention(now: now).deleted.isEmpty)
        #expect(try s.service.runRetention(now: now + 30 * 86_400 * 1_000_000_000).deleted.isEmpty)
        #expect(try s.service.runRetention(now: now + 32 * 86_400 * 1_000_000_000).deleted.map(\.recordingID) == [r.id])
    }

    @Test func serveRunsTheRetentionJobEveryInterval() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CommandTests.binary), "build it first: swift build")
        let (s, device) = try await serviceWithDevice()
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1, start: "2020-01-01T08:00:00Z")
        #expect(try await device.upload(r).status == 200)
        s.stop()
        #expect(try CommandTests.run(["serve", "--data", s.data, "--retention-every", "forever"]).stderr.contains("--retention-every"))
        // It ended years ago and reached the records years ago too (set in the catalogue): the first run,
        // one interval after start, deletes it.
        let db = try DatabaseQueue(path: s.data + "/" + SQLiteCatalogue.fileName)
        try await db.write { try $0.execute(sql: "UPDATE recording SET received_utc = ?", arguments: [r.manifest.endUTC]) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandTests.binary)
        p.arguments = ["serve", "--data", s.data, "--listen", "127.0.0.1:0", "--retention-every", "1s"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        let handle = pipe.fileHandleForReading
        let lines = try await Blocking.run { () -> [String] in
            var lines: [String] = []
            var bytes: [UInt8] = []
            while lines.count < 3, let chunk = try? handle.read(upToCount: 1), let b = chunk.first {
                if b == 10 { lines.append(String(decoding: bytes, as: UTF8.self)); bytes = [] } else { bytes.append(b) }
            }
            return lines
        }
        #expect(lines.count == 3 && lines[0].contains(#""event":"listening""#), "\(lines)")
        #expect(lines.count == 3 && lines[1].contains(#""event":"retention-deleted","recording_id":"\#(r.id)""#), "\(lines)")
        #expect(lines.count == 3 && lines[2].contains(#""event":"retention""#) && lines[2].contains(#""deleted":1"#), "\(lines)")
        #expect(try s.custody().last.map { $0.action == .delete && $0.recordingID == r.id } == true)
    }
}
