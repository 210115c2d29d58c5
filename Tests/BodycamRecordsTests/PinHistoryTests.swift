import BodycamEvidence
import Foundation
import GRDB
import Testing
@testable import BodycamRecords

/// Pin history: a camera revoked and enrolled again with a new key (found and re-keyed, or its id reused
/// for a replacement unit). What was received under the old key exports and verifies for years, each
/// recording under the pin it was received under; the old key vouches for nothing received afterwards.
@Suite(.serialized) struct PinHistoryTests {
    static let script = """
        dock
        wait 2s
        assign PC-1
        undock
        wait 1s
        hold record 3s
        wait 2s
        double record
        wait 1s
        dock
        wait 30s
        expect local_recordings 0
        quit

        """

    /// One dock of the real camera on `storage` with a fresh enrolment token.
    static func dock(_ s: RunningService, storage: String, script: String = script) async throws {
        let token = try s.service.issueEnrolmentToken(deviceID: "BWV-0001", lifetime: 86_400_000_000_000)
        let out = try await Blocking.run {
            try ExportTests.run(ExportTests.camera, ["run", "--strict", "--storage", storage, "--device-id", "BWV-0001",
                                                     "--records", "http://127.0.0.1:\(s.port)", "--enrol-token", token, "--size", "160x120",
                                                     "--boot-time", "0s", "--prerecord", "2s", "--segment-duration", "2s"], stdin: script)
        }
        #expect(out.status == 0, "\(out.stderr.suffix(3000))\(out.stdout.suffix(3000))")
    }

    /// BWV-0001 enrolled with key A docks a recording; it is revoked; the same camera gets a new key B (its
    /// identity files removed: it makes a new key and a new audit trail, keeps its recording numbers) and
    /// docks another under a new enrolment.
    static func reKeyedCamera(_ name: String = #function, script: String = script, scriptB: String? = nil) async throws -> (RunningService, keyA: PublicKey, keyB: PublicKey) {
        let s = try await RunningService.start(name)
        try s.service.addOfficer(id: "PC-1", name: "One", trained: true)
        let storage = TestFolders.make("camera")
        try await dock(s, storage: storage, script: script)
        let keyA = try DeviceInfo.read(storage + "/state/" + DeviceIdentity.infoFileName).publicKey
        s.clock.advance(seconds: 60)
        try s.service.revoke(deviceID: "BWV-0001")
        s.clock.advance(seconds: 60)
        for name in [DeviceIdentity.keyFileName, DeviceIdentity.infoFileName] {
            try FileManager.default.removeItem(atPath: storage + "/state/" + name)
        }
        try await dock(s, storage: storage, script: scriptB ?? script)
        let keyB = try DeviceInfo.read(storage + "/state/" + DeviceIdentity.infoFileName).publicKey
        #expect(keyA != keyB)
        return (s, keyA, keyB)
    }

    @Test func recordingsUnderARevokedKeyAndItsSuccessorExportAndVerify() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ExportTests.camera), "build it first: swift build")
        let (s, keyA, keyB) = try await Self.reKeyedCamera()
        defer { s.stop() }
        let ids = try await s.recordings().map(\.recordingID).sorted()
        try #require(ids.count == 2, "\(ids)")

        let work = TestFolders.make()
        let bundle = work + "/bundle"
        let export = try CommandTests.run(["export"] + ids + ["--out", bundle, "--by", "DC 1234 Smith", "--data", s.data])
        #expect(export.status == 0, "\(export.stderr)")
        let keys = work + "/trusted-keys"
        try CommandTests.run(["key", "--data", s.data]).stdout.write(toFile: keys, atomically: true, encoding: .utf8)
        let verified = try ExportTests.run(ExportTests.camera, ["verify", bundle, "--trusted-keys", keys])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("court bundle of 2 recording(s)"), "\(verified.stdout)")
        let pins = PosixFile.list(bundle + "/devices").sorted()
        #expect(pins == ["BWV-0001.\(keyA.fingerprintHex).pin", "BWV-0001.\(keyB.fingerprintHex).pin"].sorted(), "\(pins)")

        let store = try CommandTests.run(["verify-store", "--data", s.data])
        #expect(store.status == 0, "\(store.stdout)\(store.stderr)")
    }

    /// The default script, then more docks: one audit trail copy per dock.
    static let manyDocks = script.replacingOccurrences(of: "quit\n", with: "")
        + String(repeating: "undock\nwait 1s\ndock\nwait 5s\n", count: 8) + "quit\n"
    /// A dock cycle logs 9 entries; stealth on or off 1 (`hold function`): six (stealth off again) put the
    /// new trail's copies on entry counts of the old trail's.
    static let manyDocksB = String(repeating: "hold function 3s\nwait 2s\n", count: 6) + manyDocks

    /// The re-keyed camera's new trail reaches entry counts the old trail's copies were named by: its copies
    /// are named by its key's fingerprint, so none is refused as different (write-once), and both trails
    /// are kept, exported (each with its own key's pin) and verified.
    @Test func aReKeyedCamerasNewTrailIsNotRefusedWhereTheOldTrailHasACopyOfTheSameLength() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ExportTests.camera), "build it first: swift build")
        let (s, keyA, keyB) = try await Self.reKeyedCamera(script: Self.manyDocks, scriptB: Self.manyDocksB)
        defer { s.stop() }
        let files = try await s.service.catalogue.read { try $0.files(deviceID: "BWV-0001", folder: RecordsNames.auditFolder) }
        let copies = files.compactMap { RecordsNames.AuditCopy.parse($0.file) }
        func entries(_ key: PublicKey, heads: Bool) -> Set<Int> {
            Set(copies.filter { $0.isHead == heads && $0.fingerprint == key.fingerprintHex }.map(\.entries))
        }
        // Every dock's copy is held (nine docks under each key), and its head, under each key's name.
        #expect(copies.filter { !$0.isHead }.count >= 18, "\(files.map(\.file).sorted())")
        #expect(entries(keyA, heads: false).count >= 9 && entries(keyA, heads: true) == entries(keyA, heads: false), "\(files.map(\.file).sorted())")
        #expect(entries(keyB, heads: false).count >= 9 && entries(keyB, heads: true) == entries(keyB, heads: false), "\(files.map(\.file).sorted())")
        try #require(!entries(keyA, heads: false).isDisjoint(with: entries(keyB, heads: false)),
                     "the script no longer makes a copy of each trail with the same entry count: \(files.map(\.file).sorted())")

        let ids = try await s.recordings().map(\.recordingID).sorted()
        let bundle = try Self.exportVerifyingEveryTrail(ids, data: s.data)
        for key in [keyA, keyB] {
            let trails = PosixFile.list(bundle + "/" + CourtBundleLayout.auditFolder("BWV-0001", fingerprint: key.fingerprintHex))
            // The newest copy of each trail.
            #expect(trails.contains(RecordsNames.auditCopy(entries: entries(key, heads: false).max() ?? 0, fingerprint: nil)), "\(trails)")
        }
    }

    /// Exports `ids` from the store in `data` with no trail left out; the bundle verifies trusting only the
    /// records key, and so does the store (`verify-store`). Returns the bundle's folder.
    static func exportVerifyingEveryTrail(_ ids: [String], data: String) throws -> String {
        let work = TestFolders.make()
        let bundle = work + "/bundle"
        let export = try CommandTests.run(["export"] + ids + ["--out", bundle, "--by", "DC 1234 Smith", "--data", data])
        #expect(export.status == 0 && !export.stderr.contains("left out"), "\(export.stderr)")
        let keys = work + "/trusted-keys"
        try CommandTests.run(["key", "--data", data]).stdout.write(toFile: keys, atomically: true, encoding: .utf8)
        let verified = try ExportTests.run(ExportTests.camera, ["verify", bundle, "--trusted-keys", keys])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let store = try CommandTests.run(["verify-store", "--data", data])
        #expect(store.status == 0, "\(store.stdout)\(store.stderr)")
        return bundle
    }

    /// A store from before fingerprinted names (`000000123.jsonl`, as an older service or camera left them):
    /// the old key's trail copies, renamed so in the catalogue, still export with their heads and verify.
    @Test func auditCopiesNamedBeforeFingerprintsStillExportAndVerify() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ExportTests.camera), "build it first: swift build")
        let (s, keyA, _) = try await Self.reKeyedCamera()
        let ids = try await s.recordings().map(\.recordingID).sorted()
        try #require(ids.count == 2, "\(ids)")
        let path = s.data + "/" + SQLiteCatalogue.fileName
        s.stop()
        let queue = try DatabaseQueue(path: path)
        let renamed = try await queue.write { db -> Int in
            try db.execute(sql: "UPDATE file SET file = replace(file, ?, '') WHERE folder = ?",
                           arguments: ["." + keyA.fingerprintHex, RecordsNames.auditFolder])
            return db.changesCount
        }
        try queue.close()
        #expect(renamed >= 2)
        let bundle = try Self.exportVerifyingEveryTrail(ids, data: s.data)
        let trails = PosixFile.list(bundle + "/" + CourtBundleLayout.auditFolder("BWV-0001", fingerprint: keyA.fingerprintHex))
        #expect(trails.contains { $0.hasSuffix(".jsonl") } && trails.contains { $0.hasSuffix(".head.json") }, "\(trails)")
    }

    /// The old key vouches for nothing received after the revocation: the revoked camera is refused, a
    /// manifest it signed is refused when the re-enrolled device sends it, and the old key cannot be pinned again.
    @Test func aManifestSignedByTheRevokedKeyIsRefusedAfterTheRevocation() async throws {
        let (s, old) = try await serviceWithDevice()
        defer { s.stop() }
        let first = SyntheticRecording.make(old.identity, number: 1)
        #expect(try await old.upload(first).status == 200)
        s.clock.advance(seconds: 60)
        try s.service.revoke(deviceID: old.id)
        let late = SyntheticRecording.make(old.identity, number: 2)
        let refused = try await old.upload(late)
        #expect(refused.status == 403 && refused.error?.error.contains("revoked") == true, "\(refused.text)")
        // The old key again, with a token issued after the revocation: refused (a thief has that key).
        s.clock.advance(seconds: 60)
        let again = try await old.enrol(token: try s.service.issueEnrolmentToken(deviceID: old.id, lifetime: 86_400_000_000_000))
        #expect(again.status == 403 && again.error?.error.contains("new key") == true, "\(again.text)")
        // The re-enrolled camera (key B) sends a manifest signed by the old key: not under its pin.
        let replaced = try TestDevice(old.id, port: s.port)
        #expect(try await replaced.enrol(token: try s.service.issueEnrolmentToken(deviceID: old.id, lifetime: 86_400_000_000_000)).status == 200)
        let signedByOld = SyntheticRecording.make(replaced.identity, number: 3, signer: old.identity)
        let reply = try await replaced.upload(signedByOld)
        #expect(reply.status == 422 && reply.error?.error.contains("does not verify with the key pinned") == true, "\(reply.text)")
        // Its own recording is received under pin B, and the receipt names key B; recording 1 stays under A.
        let own = SyntheticRecording.make(replaced.identity, number: 4)
        let receipt = try statement(try await replaced.upload(own), key: s.serviceKey)
        #expect(receipt.deviceKey == replaced.identity.publicKey)
        let rows = Dictionary(try await s.recordings().map { ($0.recordingID, $0.pinFingerprint) }, uniquingKeysWith: { a, _ in a })
        #expect(rows == [first.id: old.identity.publicKey.fingerprintHex, own.id: replaced.identity.publicKey.fingerprintHex])
        let pins = try await s.service.catalogue.read { try $0.pins(deviceID: old.id) }
        #expect(pins.map(\.key) == [old.identity.publicKey, replaced.identity.publicKey])
        #expect(pins[0].revokedUTC != nil && pins[1].revokedUTC == nil)
        #expect(try s.service.verifyStore().problems == [])
    }

    /// A catalogue from before pin history (migrations up to v2-retention) upgraded in place: the history
    /// starts with each device's current pin, every recording is assigned to it, and the store verifies.
    @Test func aCatalogueFromBeforePinHistoryIsUpgradedAndKeepsVerifying() async throws {
        let (s, device) = try await serviceWithDevice()
        let r = SyntheticRecording.make(device.identity, number: 1)
        #expect(try await device.upload(r).status == 200)
        s.stop()
        // Back to the v2 schema, as an older service left it (a receipt of then had no device key: the
        // upgraded store must not need one).
        let path = s.data + "/" + SQLiteCatalogue.fileName
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: """
                DROP TABLE device_pin;
                ALTER TABLE recording DROP COLUMN pin_fingerprint;
                DELETE FROM grdb_migrations WHERE identifier = 'v3-pin-history';
                """)
        }
        try queue.close()
        let catalogue = try SQLiteCatalogue(path: path)
        let upgraded = RecordsService(dataDirectory: s.data, identity: s.service.identity, catalogue: catalogue, blobs: s.service.blobs)
        let pins = try catalogue.readNow { try $0.pins(deviceID: device.id) }
        #expect(pins.map(\.key) == [device.identity.publicKey] && pins.first?.revokedUTC == nil)
        #expect(try catalogue.readNow { try $0.recording(r.id)?.pinFingerprint } == device.identity.publicKey.fingerprintHex)
        #expect(try upgraded.verifyStore().problems == [])
        let bundle = TestFolders.make() + "/bundle"
        // Synthetic segments are not AVIs, so only the writer's own checks up to the segments are met here;
        // the export must find the recording's pin, which is what the migration gave it.
        do { _ = try upgraded.exportBundle(recordingIDs: [r.id], to: bundle, caseReference: nil, exportedBy: "test") } catch {
            #expect(!"\(error)".contains("pin"), "\(error)")
        }
    }
}
