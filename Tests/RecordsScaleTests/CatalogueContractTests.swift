import BodycamEvidence
import BodycamRecords
import Foundation
import Testing
@testable import RecordsPostgres

/// One contract for every `CatalogueTransaction` method, run on SQLite and on PostgreSQL: each checks the
/// values it reads back, and PostgreSQL's whole transcript must equal SQLite's (the same rows, values,
/// order and edge cases: UInt64.max sequence numbers, Int64 extremes, empty and binary blobs, byte-order
/// sorting of mixed case, upserts, a second delete that changes nothing).
@Suite struct CatalogueContractTests {
    static let keyA = PublicKey(raw: (0..<32).map { UInt8($0) })
    static let keyB = PublicKey(raw: (0..<32).map { UInt8(255 - $0) })

    /// Writes a fixed set of rows through every write method, then reads them back through every read method.
    static func exercise(_ c: any Catalogue) throws -> [String] {
        let (keyA, keyB) = (keyA, keyB)
        let devA = DeviceRecord(deviceID: "BWV-0001", key: keyA, state: .enrolled, lastSeq: 3, enrolledUTC: -5, pin: [0, 255, 10, 13, 0],
                                officer: "PC-1")
        let devB = DeviceRecord(deviceID: "BWV-0002", key: keyB, state: .revoked, lastSeq: .max, enrolledUTC: .min, revokedUTC: .max, pin: [])
        let r1 = RecordingRecord(recordingID: "BWV-0001-000001", deviceID: "BWV-0001", officer: "PC-1", trigger: "button", startUTC: 1000,
                                 endUTC: 2000, markers: 2, frames: 300, bytes: 4096, manifestSHA256: String(repeating: "a", count: 64),
                                 receivedUTC: 2500, receipt: Array(0...255), category: .evidential, caseReference: "OP-1",
                                 pinFingerprint: keyA.fingerprintHex)
        let r2 = RecordingRecord(recordingID: "BWV-0001-000002", deviceID: "BWV-0001", officer: nil, trigger: "sensor", startUTC: 500,
                                 endUTC: 600, markers: 0, frames: 10, bytes: 20, manifestSHA256: String(repeating: "b", count: 64),
                                 receivedUTC: 700, receipt: [1])
        let r3 = RecordingRecord(recordingID: "BWV-0002-000001", deviceID: "BWV-0002", officer: "PC-2", trigger: "button", startUTC: 3000,
                                 endUTC: 3100, markers: 1, frames: 1, bytes: 1, manifestSHA256: String(repeating: "c", count: 64),
                                 receivedUTC: 3200, receipt: [], holdReason: "complaint 42")
        let shared = String(repeating: "5", count: 64), gone = String(repeating: "6", count: 64)
        try c.writeNow { tx in
            try tx.saveDevice(devA)
            try tx.saveDevice(devB)
            var changed = devA
            (changed.lastSeq, changed.officer) = (42, nil)
            try tx.saveDevice(changed) // an upsert
            try tx.savePin(PinRecord(deviceID: "BWV-0001", key: keyA, pin: [9, 0, 9], enrolledUTC: -5))
            try tx.savePin(PinRecord(deviceID: "BWV-0001", key: keyB, pin: [8], enrolledUTC: 200))
            try tx.savePin(PinRecord(deviceID: "BWV-0001", key: keyA, pin: [9, 0, 9], enrolledUTC: -5, revokedUTC: 150)) // its revocation
            try tx.insertToken(EnrolmentToken(sha256: "t1", deviceID: "BWV-0001", issuedUTC: 10, expiresUTC: 20))
            try tx.insertToken(EnrolmentToken(sha256: "t2", deviceID: "BWV-0001", issuedUTC: 5, expiresUTC: 30))
            try tx.markTokenUsed(sha256: "t1", utc: 15)
            try tx.saveOfficer(OfficerRecord(officerID: "PC-2", name: "Zoë «Ω»", trained: true, active: false))
            try tx.saveOfficer(OfficerRecord(officerID: "PC-1", name: "Bob", trained: false, active: true))
            try tx.saveOfficer(OfficerRecord(officerID: "PC-1", name: "Bob Jr", trained: true, active: true))
            try tx.insertUser(UserRecord(name: "sarge", role: .supervisor, officer: nil, tokenSHA256: "u1"))
            try tx.insertUser(UserRecord(name: "one", role: .officer, officer: "PC-1", tokenSHA256: "u2"))
            for (folder, file, sha, bytes) in [("BWV-0001-000001", "seg-b", shared, 10), ("BWV-0001-000001", "Seg-a", "1", 11),
                                               ("BWV-0001-000001", "seg-a", "2", Int(Int32.max) + 5), ("audit", "trail", "3", 0),
                                               ("BWV-0001-000002", "x", shared, 1), ("BWV-0001-000002", "y", gone, 2)] {
                try tx.insertFile(FileRecord(deviceID: "BWV-0001", folder: folder, file: file, sha256: sha, bytes: bytes, receivedUTC: 77))
            }
            try tx.insertRecording(r1)
            try tx.insertRecording(r2)
            try tx.insertRecording(r3)
            var held = r1
            (held.category, held.caseReference, held.holdReason) = (.nonEvidential, nil, "review")
            try tx.updateRetention(held)
            try tx.markDeleted(recordingID: r2.recordingID, utc: 800, reason: "retention: ended")
            try tx.markDeleted(recordingID: r2.recordingID, utc: 900, reason: "again") // changes nothing: deleted already
            try tx.appendCustody(seq: 1, line: Array("{\"seq\":1}".utf8))
            try tx.appendCustody(seq: 2, line: [0, 1, 2, 255])
            try tx.saveServiceKey(keyA)
        }
        // A second service key is refused, never written over the first.
        #expect(throws: (any Error).self) { try c.writeNow { try $0.saveServiceKey(keyB) } }

        return try c.readNow { tx -> [String] in
            var log: [String] = []
            func note(_ label: String, _ value: Any) { log.append("\(label): \(value)") }
            let a = try #require(try tx.device("BWV-0001"))
            #expect(a.lastSeq == 42 && a.officer == nil && a.pin == [0, 255, 10, 13, 0] && a.key == keyA)
            #expect(try tx.device("BWV-0002")?.lastSeq == .max)
            #expect(try tx.device("BWV-0002")?.enrolledUTC == .min)
            #expect(try tx.device("nope") == nil)
            note("device", a)
            note("devices", try tx.devices())
            let pins = try tx.pins(deviceID: "BWV-0001")
            #expect(pins.map(\.revokedUTC) == [150, nil] && pins.map(\.key) == [keyA, keyB])
            note("pins", pins)
            note("pins none", try tx.pins(deviceID: "nope"))
            #expect(try tx.token(sha256: "t1")?.usedUTC == 15)
            note("token", try tx.token(sha256: "t1") as Any)
            note("token none", try tx.token(sha256: "zz") as Any)
            #expect(try tx.tokens(deviceID: "BWV-0001").map(\.sha256) == ["t2", "t1"])
            note("tokens", try tx.tokens(deviceID: "BWV-0001"))
            #expect(try tx.officer("PC-1") == OfficerRecord(officerID: "PC-1", name: "Bob Jr", trained: true, active: true))
            note("officer", try tx.officer("PC-2") as Any)
            #expect(try tx.officers().map(\.name) == ["Bob Jr", "Zoë «Ω»"])
            note("officers", try tx.officers())
            #expect(try tx.user(name: "one")?.officer == "PC-1")
            note("user", try tx.user(name: "sarge") as Any)
            #expect(try tx.user(tokenSHA256: "u2")?.name == "one")
            note("user by token", try tx.user(tokenSHA256: "u1") as Any)
            note("user none", try tx.user(name: "ghost") as Any)
            #expect(try tx.file(deviceID: "BWV-0001", folder: "BWV-0001-000001", file: "seg-a")?.bytes == Int(Int32.max) + 5)
            note("file", try tx.file(deviceID: "BWV-0001", folder: "audit", file: "trail") as Any)
            // Byte order, as SQLite sorts: upper case first.
            #expect(try tx.files(deviceID: "BWV-0001", folder: "BWV-0001-000001").map(\.file) == ["Seg-a", "seg-a", "seg-b"])
            note("files", try tx.files(deviceID: "BWV-0001", folder: "BWV-0001-000001"))
            let live = try tx.liveFiles()
            #expect(live.map(\.file) == ["Seg-a", "seg-a", "seg-b", "trail"])
            note("live files", live)
            #expect(try tx.isReferencedByLiveFile(sha256: shared))
            #expect(try !tx.isReferencedByLiveFile(sha256: gone))
            let one = try #require(try tx.recording(r1.recordingID))
            #expect(one.receipt == Array(0...255) && one.holdReason == "review" && one.category == .nonEvidential && one.caseReference == nil)
            #expect(try tx.recording(r2.recordingID)?.deletedUTC == 800)
            #expect(try tx.recording(r2.recordingID)?.deletedReason == "retention: ended")
            note("recording", one)
            note("recording deleted", try tx.recording(r2.recordingID) as Any)
            var filters: [(String, RecordingFilter)] = [("all", RecordingFilter()), ("device", RecordingFilter(deviceID: "BWV-0002")),
                                                         ("officer", RecordingFilter(officer: "PC-1")), ("from", RecordingFilter(from: 2001)),
                                                         ("to", RecordingFilter(to: 2999)), ("span", RecordingFilter(from: 1500, to: 3000)),
                                                         ("trigger", RecordingFilter(trigger: "button"))]
            var markers = RecordingFilter(); markers.withMarkers = true; filters.append(("markers", markers))
            var deleted = RecordingFilter(); deleted.deleted = true; filters.append(("deleted", deleted))
            var page = RecordingFilter(); (page.limit, page.offset) = (1, 1); filters.append(("page", page))
            var hostile = RecordingFilter(); (hostile.limit, hostile.offset) = (-5, -9); filters.append(("hostile paging", hostile))
            for (label, filter) in filters { note("recordings \(label)", try tx.recordings(filter).map(\.recordingID)) }
            #expect(try tx.recordings(RecordingFilter()).map(\.recordingID) == [r1.recordingID, r3.recordingID])
            #expect(try tx.recordings(page).map(\.recordingID) == [r3.recordingID])
            #expect(try tx.recordings(deleted).map(\.recordingID) == [r2.recordingID])
            // r1 is on hold, r3 too: nothing expires; then only the times decide.
            #expect(try tx.expiredRecordings(nonEvidentialEnd: .max, evidentialEnd: .max, limit: 10).isEmpty)
            note("unpurged", try tx.unpurgedRecordings().map(\.recordingID))
            let last = try #require(try tx.lastCustody())
            #expect(last.seq == 2 && last.line == [0, 1, 2, 255])
            note("last custody", last)
            #expect(try tx.custodyLines(from: 2) == [[0, 1, 2, 255]])
            note("custody", try tx.custodyLines(from: 1))
            #expect(try tx.serviceKey() == keyA)
            return log
        } + c.writeNow { tx -> [String] in
            // Released from hold, r1 (non-evidential, retention from 2500) and r3 expire by their times.
            for id in ["BWV-0001-000001", "BWV-0002-000001"] {
                var r = try #require(try tx.recording(id))
                r.holdReason = nil
                try tx.updateRetention(r)
            }
            let expired = try tx.expiredRecordings(nonEvidentialEnd: 3200, evidentialEnd: .min, limit: 10).map(\.recordingID)
            #expect(expired == ["BWV-0001-000001", "BWV-0002-000001"])
            #expect(try tx.expiredRecordings(nonEvidentialEnd: 3199, evidentialEnd: .min, limit: 10).map(\.recordingID) == ["BWV-0001-000001"])
            #expect(try tx.expiredRecordings(nonEvidentialEnd: 3200, evidentialEnd: .min, limit: 0).count == 1) // at least one
            try tx.markPurged(recordingID: "BWV-0001-000002", utc: 950)
            #expect(try tx.unpurgedRecordings().isEmpty)
            #expect(try tx.recording("BWV-0001-000002")?.purgedUTC == 950)
            return ["expired: \(expired)", "purged: \(try tx.recording("BWV-0001-000002") as Any)"]
        }
    }

    /// A throw inside `write` commits nothing of what the body wrote before it.
    static func throwCommitsNothing(_ c: any Catalogue) async throws {
        struct Stop: Error {}
        await #expect(throws: Stop.self) {
            try await c.write { tx in
                try tx.saveOfficer(OfficerRecord(officerID: "PC-9", name: "Gone", trained: true, active: true))
                try tx.appendCustody(seq: 1, line: [1])
                throw Stop()
            }
        }
        #expect(try await c.read { try $0.officer("PC-9") } == nil)
        #expect(try await c.read { try $0.lastCustody()?.seq } == nil)
        // And the catalogue still works afterwards (the connection was rolled back, not left in a transaction).
        try await c.write { try $0.saveOfficer(OfficerRecord(officerID: "PC-9", name: "Kept", trained: true, active: true)) }
        #expect(try await c.read { try $0.officer("PC-9")?.name } == "Kept")
    }

    static func sqlite() throws -> SQLiteCatalogue {
        let dir = NSTemporaryDirectory() + "bodycam-scale-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return try SQLiteCatalogue(path: dir + "/catalogue.sqlite")
    }

    @Test func sqliteKeepsTheContract() async throws {
        #expect(try Self.exercise(Self.sqlite()).count > 20)
        try await Self.throwCommitsNothing(Self.sqlite())
    }

    @Test(.enabled(if: ScaleEnvironment.postgresURL != nil, Comment(rawValue: TestPostgres.skipped)))
    func postgresKeepsTheContractAndReadsBackWhatSQLiteDoes() async throws {
        let postgres = try TestPostgres.open(try TestPostgres.freshDatabase())
        defer { postgres.close() }
        let expected = try Self.exercise(Self.sqlite())
        let got = try Self.exercise(postgres)
        #expect(got.count == expected.count)
        for (g, e) in zip(got, expected) where g != e { Issue.record("PostgreSQL read back\n  \(g)\nwhere SQLite read back\n  \(e)") }

        let other = try TestPostgres.open(try TestPostgres.freshDatabase())
        defer { other.close() }
        try await Self.throwCommitsNothing(other)
    }
}
