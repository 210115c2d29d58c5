import BodycamEvidence
import BodycamRecords
import Foundation
import Testing
@testable import RecordsPostgres

/// Several ingest nodes (`RecordsService`s with their own data folders) on one catalogue: they must share
/// one service key, and their retention jobs running at once delete each expired recording once.
@Suite struct SharedCatalogueServiceTests {
    static func folder() throws -> String {
        let path = NSTemporaryDirectory() + "bodycam-node-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A second node's data folder holding a copy of the first one's service key (mode 0600).
    static func copyKey(from a: String, to b: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: a + "/" + ServiceIdentity.fileName))
        let made = FileManager.default.createFile(atPath: b + "/" + ServiceIdentity.fileName, contents: bytes, attributes: [.posixPermissions: 0o600])
        try #require(made, "cannot copy the service key to \(b)")
    }

    static func expectKeyMismatch(_ open: @escaping () throws -> any Catalogue) throws {
        let (a, b) = (try folder(), try folder())
        _ = try RecordsService.open(dataDirectory: a, catalogue: open)
        // Same key: the node starts.
        let c = try folder()
        try copyKey(from: a, to: c)
        _ = try RecordsService.open(dataDirectory: c, catalogue: open)
        // Another key: one clear line naming both fingerprints.
        let error = #expect(throws: ServiceKeyMismatch.self) { try RecordsService.open(dataDirectory: b, catalogue: open) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("this catalogue belongs to service key SHA256:") && text.contains("\(b)/service.key is SHA256:")
                && text.hasSuffix("give every ingest node the same service key") && !text.contains("\n"), "\(text)")
    }

    @Test func aNodeWithAnotherServiceKeyIsRefusedOnSQLite() throws {
        let path = try Self.folder() + "/catalogue.sqlite"
        try Self.expectKeyMismatch { try SQLiteCatalogue(path: path) }
    }

    @Test(.enabled(if: ScaleEnvironment.postgresURL != nil, Comment(rawValue: TestPostgres.skipped)))
    func aNodeWithAnotherServiceKeyIsRefusedOnPostgres() throws {
        let url = try TestPostgres.freshDatabase()
        try Self.expectKeyMismatch { try TestPostgres.open(url) }
    }

    /// A chunk or finish on a name another node is working on is answered busy (503, come back in 2 s:
    /// the camera waits it out on the dock), and goes through once that node is done.
    @Test(.enabled(if: ScaleEnvironment.postgresURL != nil, Comment(rawValue: TestPostgres.skipped)))
    func anUploadInProgressOnAnotherNodeIsRefused() async throws {
        let url = try TestPostgres.freshDatabase()
        let (a, b) = (try Self.folder(), try Self.folder())
        let nodeA = try RecordsService.open(dataDirectory: a, catalogue: { try TestPostgres.open(url) })
        try Self.copyKey(from: a, to: b)
        let nodeB = try RecordsService.open(dataDirectory: b, catalogue: { try TestPostgres.open(url) })
        let id = try #require(EvidenceNames.RecordingID.parse("BWV-0001-000001"))
        let name = try #require(UploadName(device: "BWV-0001", folder: id.text, file: EvidenceNames.manifestName(id)))
        let lease = try #require(try await nodeA.catalogue.tryLockUpload(name.description))
        for attempt in 0..<2 {
            let refusal = await #expect(throws: Refusal.self) {
                if attempt == 0 { _ = try await nodeB.ingest.put(name, offset: 0, bytes: [1]) }
                else { _ = try await nodeB.ingest.finish(name, sha256: String(repeating: "0", count: 64), deviceKey: nodeA.identity.publicKey) }
            }
            #expect(refusal?.kind == .busy && refusal?.retryAfter == 2 && refusal?.message.contains("(another node)") == true,
                    "\(String(describing: refusal))")
        }
        await lease.release()
        #expect(try await nodeB.ingest.put(name, offset: 0, bytes: [1]).offset == 1)
        // Each request gave its lease back: node A can take the name again.
        let again = try await nodeA.catalogue.tryLockUpload(name.description)
        #expect(again != nil)
        await again?.release()
    }

    @Test(.enabled(if: ScaleEnvironment.postgresURL != nil, Comment(rawValue: TestPostgres.skipped)))
    func twoNodesRunningRetentionAtOnceDeleteEachRecordingOnce() async throws {
        let url = try TestPostgres.freshDatabase()
        let (a, b) = (try Self.folder(), try Self.folder())
        let nodeA = try RecordsService.open(dataDirectory: a, catalogue: { try TestPostgres.open(url) })
        try Self.copyKey(from: a, to: b)
        let nodeB = try RecordsService.open(dataDirectory: b, catalogue: { try TestPostgres.open(url) })

        // Recordings that ended on 1 March 2026 (received then too): 40 expired, one on hold, one evidential.
        let ended = try #require(UTC.parse("2026-03-01T09:00:00Z"))
        let count = 40
        func recording(_ n: Int) -> RecordingRecord {
            RecordingRecord(recordingID: String(format: "BWV-0001-%06d", n), deviceID: "BWV-0001", officer: "PC-1", trigger: "button",
                            startUTC: ended - 60_000_000_000, endUTC: ended + Int64(n), markers: 0, frames: 1, bytes: 1,
                            manifestSHA256: String(repeating: "a", count: 64), receivedUTC: ended, receipt: [1])
        }
        try nodeA.catalogue.writeNow { tx in
            for n in 1...count { try tx.insertRecording(recording(n)) }
            var held = recording(count + 1)
            held.holdReason = "complaint"
            try tx.insertRecording(held)
            var evidential = recording(count + 2)
            (evidential.category, evidential.caseReference) = (.evidential, "OP-1")
            try tx.insertRecording(evidential)
        }
        let now = ended + 45 * 86_400 * 1_000_000_000
        let nodes = [nodeA, nodeB]
        let reports = try await concurrently(2) { i in try nodes[i].runRetention(now: now) }

        let deleted = reports.flatMap { $0.deleted.map(\.recordingID) }
        #expect(deleted.count == count, "each expired recording deleted once, by one node or the other")
        #expect(Set(deleted) == Set((1...count).map { recording($0).recordingID }))
        #expect(reports.allSatisfy { $0.failures.isEmpty })
        let entries = try Custody.check(nodeB.catalogue, key: nodeA.identity.publicKey)
        let deletions = entries.filter { $0.action == .delete }
        #expect(deletions.count == count)
        #expect(Set(deletions.compactMap(\.recordingID)).count == count)
        #expect(deletions.allSatisfy { $0.actor == RecordsService.retentionActor })
        #expect(entries.map(\.seq) == Array(1...entries.count))
        let left = try await nodeA.catalogue.read { try $0.recordings(RecordingFilter()).map(\.recordingID) }
        #expect(left == [recording(count + 1).recordingID, recording(count + 2).recordingID])
        #expect(try await nodeB.catalogue.read { try $0.unpurgedRecordings() }.isEmpty)
        // A rerun by either node finds nothing more to delete.
        #expect(try nodeB.runRetention(now: now).deleted.isEmpty)
    }
}
