import Foundation
import Testing
@testable import BodycamEvidence

/// Court bundles: an exported bundle verifies offline trusting only the force's records key, and a
/// bundle with one byte changed, a recording removed, a file added, a key swapped or a link planted
/// fails with a message naming the file and the check.
struct CourtBundleTests {
    static let device = "BWV-0001"
    static let ids = [1, 2].map { EvidenceNames.RecordingID(deviceID: device, number: $0) }

    /// One camera storage with two recordings and a fake records service key, shared by every test (each
    /// writes its own bundle from it).
    struct Fixture: Sendable {
        var storage: String
        var service: DeviceIdentity
        var deviceKey: PublicKey
        /// A trusted-keys file holding only `RECORDS ed25519 <hex>`.
        var keys: String
        var recordings: String { storage + "/recordings" }
    }

    static let shared = Result { () throws -> Fixture in
        let storage = try TestSupport.deviceStorage("courtBundle", options: ["--size", "160x120", "--prerecord", "2s"],
                                                    script: "wait 3s\ndouble record\nwait 2s\nhold record 3s\nwait 1s\ndouble record\nwait 1s\nhold record 3s\n")
        let service = try DeviceIdentity.create(stateDirectory: TestSupport.temporaryDirectory("records") + "/state",
                                                deviceID: CourtBundleLayout.recordsKeyName, utcNow: 0)
        let info = try DeviceInfo.read(storage + "/state/" + DeviceIdentity.infoFileName)
        let keys = TestSupport.temporaryDirectory("keys") + "/trusted-keys"
        try (TrustedKeys.line(deviceID: "RECORDS", key: service.publicKey) + "\n").write(toFile: keys, atomically: true, encoding: .utf8)
        return Fixture(storage: storage, service: service, deviceKey: info.publicKey, keys: keys)
    }

    static func fixture() throws -> Fixture { try shared.get() }

    static func pin(_ f: Fixture, key: PublicKey? = nil, signer: DeviceIdentity? = nil) -> [UInt8] {
        let signer = signer ?? f.service
        return ServiceStatement(kind: .pin, service: signer.publicKey.fingerprint, deviceID: device, utc: 1_000_000_000, custodySeq: 1,
                                deviceKey: key ?? f.deviceKey).signed(signer.sign)
    }

    /// A custody line in the signed-line form (the entry's fields are the records service's; only `seq`
    /// and the signature are checked here).
    static func custodyLine(_ f: Fixture, seq: Int, action: String, recording: String?) -> [UInt8] {
        let body = Array(JSON.object([("format", .string("bodycam-custody/1")), ("seq", .int(Int64(seq))), ("utc", .string(UTC.iso(Int64(seq) * 1_000_000_000))),
                                      ("actor", .string(device)), ("action", .string(action)),
                                      ("recording_id", recording.map { .string($0) } ?? .null)]).serialized.utf8.dropLast())
        return body + AuditTrail.signatureField(f.service.sign(body))
    }

    /// What the records service would hand the writer for the fixture's recordings.
    static func recordings(_ f: Fixture) throws -> [CourtBundle.Recording] {
        try ids.map { id in
            let signed = try SignedManifest.read(directory: f.recordings, id: id)
            let receipt = ServiceStatement(kind: .receipt, service: f.service.publicKey.fingerprint, deviceID: device, utc: signed.manifest.endUTC,
                                           custodySeq: 1 + id.number, recordingID: id.text, manifestSHA256: signed.sha256).signed(f.service.sign)
            return CourtBundle.Recording(manifest: signed.bytes, signature: signed.signature.fileBytes, receipt: receipt,
                                         segments: signed.manifest.segments.map { .file(f.recordings + "/" + $0.file) })
        }
    }

    static func trail(_ f: Fixture) throws -> CourtBundle.Trail {
        CourtBundle.Trail(trail: try FileBytes.contents(f.storage + "/state/" + AuditTrail.fileName),
                          head: try FileBytes.contents(f.storage + "/state/" + AuditHead.fileName))
    }

    /// A bundle of the fixture's two recordings, written by `CourtBundle.write` into a new folder.
    static func bundle(_ name: String = #function) throws -> (Fixture, String) {
        let f = try fixture()
        let folder = TestSupport.temporaryDirectory(name) + "/bundle"
        try CourtBundle.write(to: folder, service: (f.service.publicKey, f.service.sign), exportedBy: "DC 1234 Smith",
                              caseReference: "CASE-2026-0042", createdUTC: 1_800_000_000_000_000_000, recordings: try recordings(f),
                              pins: [device: pin(f)], trails: [device: try trail(f)],
                              custody: [custodyLine(f, seq: 1, action: "enrol", recording: nil),
                                        custodyLine(f, seq: 2, action: "receipt", recording: ids[0].text),
                                        custodyLine(f, seq: 3, action: "receipt", recording: ids[1].text)])
        return (f, folder)
    }

    static func check(_ folder: String, keys: String) throws -> [String] {
        CourtBundle.check(folder: folder, trusted: try TrustedKeys.read(keys)).failures.map(\.description)
    }

    static func segmentPath(_ f: Fixture, _ id: EvidenceNames.RecordingID = ids[0]) throws -> String {
        let m = try SignedManifest.read(directory: f.recordings, id: id).manifest
        return CourtBundleLayout.recordingFolder(id) + "/" + m.segments[0].file
    }

    static func flip(_ path: String, at offset: Int) throws {
        var b = try FileBytes.contents(path)
        b[offset] ^= 0x01
        try Data(b).write(to: URL(fileURLWithPath: path))
    }

    /// Replaces `old` by `new` (same length) in a file.
    static func replace(_ path: String, _ old: String, _ new: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains(old) && old.utf8.count == new.utf8.count)
        try text.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: false, encoding: .utf8)
    }

    // MARK: - Verifies

    @Test func anExportedBundleVerifiesOfflineTrustingOnlyTheRecordsKey() throws {
        let (f, folder) = try Self.bundle()
        for path in ["bundle.json", "records-key", "custody.jsonl", "devices/BWV-0001.pin", "recordings/BWV-0001-000001/BWV-0001-000001.manifest.json",
                     "recordings/BWV-0001-000001/BWV-0001-000001.manifest.sig", "recordings/BWV-0001-000002/BWV-0001-000002.receipt",
                     try Self.segmentPath(f, Self.ids[1])] {
            #expect(PosixFile.kind(folder + "/" + path) == .regular, "\(path)")
        }
        #expect(Verifier.files(under: folder + "/audit/BWV-0001", depth: 1).count == 2)
        let report = CourtBundle.check(folder: folder, trusted: try TrustedKeys.read(f.keys))
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.keysUsed == ["RECORDS": f.service.publicKey.fingerprint, Self.device: f.deviceKey.fingerprint + " (pinned by RECORDS)"])
        // The index is strict: it parses back to the same bytes.
        let bytes = try FileBytes.contents(folder + "/bundle.json")
        let parsed = try CourtBundleIndex.parse(bytes)
        #expect(parsed.index.signed(f.service.sign) == bytes && parsed.index.recordings == Self.ids)
        // Through the binary: verified with the RECORDS key (the bundle folder, or its bundle.json), 3 without.
        let out = try TestSupport.verify(folder, keys: f.keys)
        #expect(out.status == 0, "\(out.stdout)")
        #expect(out.stdout.contains("verified:") && out.stdout.contains("court bundle of 2 recording(s)"), "\(out.stdout)")
        #expect(try TestSupport.verify(folder + "/bundle.json", keys: f.keys).status == 0)
        let untrusted = try TestSupport.bodycam(["verify", folder])
        #expect(untrusted.status == 3, "\(untrusted.stdout)")
        #expect(untrusted.stdout.contains("NOT VERIFIED"))
    }

    // MARK: - One byte changed

    enum Target: String, CaseIterable, Sendable { case segment, manifest, signature, receipt, pin, custody, auditTrail, index }

    @Test(arguments: Target.allCases)
    func oneByteChangedIsNamed(_ target: Target) throws {
        let (f, folder) = try Self.bundle("oneByteChanged\(target)")
        let id = Self.ids[0]
        let (path, expected): (String, String)
        switch target {
        case .segment:
            path = try Self.segmentPath(f)
            let avi = try AVIReader.read(path: folder + "/" + path)
            try Self.flip(folder + "/" + path, at: avi.frames[0].upperBound - 40) // inside the picture: still plays
            expected = "\(path): sha256: does not match the manifest"
        case .manifest:
            path = CourtBundleLayout.manifest(id)
            try Self.replace(folder + "/" + path, "\"dropped_frames\":0", "\"dropped_frames\":1") // still a valid manifest
            expected = "\(path): signature: does not match the manifest"
        case .signature:
            path = CourtBundleLayout.signature(id) // the other recording's signature: well formed, of other bytes
            try FileManager.default.removeItem(atPath: folder + "/" + path)
            try FileManager.default.copyItem(atPath: folder + "/" + CourtBundleLayout.signature(Self.ids[1]), toPath: folder + "/" + path)
            expected = "\(CourtBundleLayout.manifest(id)): signature: does not match the manifest"
        case .receipt:
            path = CourtBundleLayout.receipt(id)
            try Self.replace(folder + "/" + path, "\"receipt\"", "\"receipT\"")
            expected = "\(path): receipt: not signed by the trusted records key"
        case .pin:
            path = CourtBundleLayout.pin(Self.device)
            try Self.flip(folder + "/" + path, at: 30)
            expected = "\(path): pin: not signed by the trusted records key"
        case .custody:
            path = CourtBundleLayout.custodyFile
            try Self.replace(folder + "/" + path, "\"enrol\"", "\"enroL\"")
            expected = "\(path): custody: line 1: not signed by the records key"
        case .auditTrail:
            path = try #require(Verifier.files(under: folder + "/audit/BWV-0001", depth: 1).first { $0.hasSuffix(".jsonl") })
                .replacingOccurrences(of: folder + "/", with: "")
            try Self.replace(folder + "/" + path, "\"boot\"", "\"booT\"")
            expected = "\(path): audit:"
        case .index:
            path = CourtBundleLayout.indexFile
            try Self.replace(folder + "/" + path, "Smith", "Smyth")
            expected = "bundle.json: signature: not signed by the trusted records key"
        }
        let failures = try Self.check(folder, keys: f.keys)
        #expect(failures.contains { $0.contains(expected) }, "\(failures)")
        if target != .index { // the index lists every file's SHA-256: the change is named there too
            #expect(failures.contains { $0.contains("\(path): inventory: SHA-256 differs from bundle.json") }, "\(failures)")
        }
        if target == .segment {
            let out = try TestSupport.verify(folder, keys: f.keys)
            #expect(out.status == 1 && out.stdout.contains(expected) && out.stdout.contains("verification FAILED"), "\(out.stdout)")
        }
    }

    @Test func custodyLinesOutOfOrderAreNamed() throws {
        let (f, folder) = try Self.bundle()
        let path = folder + "/" + CourtBundleLayout.custodyFile
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        lines.swapAt(0, 1)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        let failures = try Self.check(folder, keys: f.keys)
        #expect(failures.contains("FAIL  custody.jsonl: custody: line 2: seq 1 does not follow 2: out of order or repeated"), "\(failures)")
        #expect(failures.contains("FAIL  custody.jsonl: inventory: SHA-256 differs from bundle.json (changed after export)"), "\(failures)")
    }

    // MARK: - Removed, added

    @Test func aRemovedRecordingOrFileIsNamed() throws {
        let (f, folder) = try Self.bundle()
        try FileManager.default.removeItem(atPath: folder + "/" + CourtBundleLayout.recordingFolder(Self.ids[1]))
        try FileManager.default.removeItem(atPath: folder + "/" + CourtBundleLayout.receipt(Self.ids[0]))
        let failures = try Self.check(folder, keys: f.keys)
        #expect(failures.contains("FAIL  recordings/BWV-0001-000002: recording: recording BWV-0001-000002 listed in bundle.json is missing"), "\(failures)")
        #expect(failures.contains("FAIL  recordings/BWV-0001-000001/BWV-0001-000001.receipt: inventory: listed in bundle.json but missing (removed)"), "\(failures)")
        #expect(!failures.contains { $0.contains("BWV-0001-000002/") }, "the removed recording is said once: \(failures)")
        let out = try TestSupport.verify(folder, keys: f.keys)
        #expect(out.status == 1)
    }

    @Test func anAddedFileIsNamed() throws {
        let (f, folder) = try Self.bundle()
        let segment = try Self.segmentPath(f)
        let extra = segment.replacingOccurrences(of: "_001.avi", with: "_009.avi")
        try FileManager.default.copyItem(atPath: folder + "/" + segment, toPath: folder + "/" + extra)
        try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/notes.txt"))
        let failures = try Self.check(folder, keys: f.keys)
        #expect(failures.contains("FAIL  \(extra): inventory: not listed in bundle.json (added after export)"), "\(failures)")
        #expect(failures.contains("FAIL  notes.txt: inventory: not listed in bundle.json (added after export)"), "\(failures)")
    }

    // MARK: - Keys swapped

    @Test func aPinSwappedForAnotherKeyIsNamed() throws {
        let (f, folder) = try Self.bundle()
        let pinPath = folder + "/" + CourtBundleLayout.pin(Self.device)
        // Another service's pin of another device key (what a forger re-signing everything would carry).
        let forger = try DeviceIdentity.create(stateDirectory: TestSupport.temporaryDirectory("forger"), deviceID: "RECORDS", utcNow: 0)
        try Data(Self.pin(f, key: forger.publicKey, signer: forger)).write(to: URL(fileURLWithPath: pinPath))
        var failures = try Self.check(folder, keys: f.keys)
        #expect(failures.contains { $0.hasPrefix("FAIL  devices/BWV-0001.pin: pin: not signed by the trusted records key") }, "\(failures)")
        #expect(failures.contains { $0.contains("BWV-0001-000001.manifest.json: signature: device BWV-0001 has no valid pin") }, "\(failures)")
        // A pin signed by the records key, but of another device key: the manifests do not verify under it.
        try Data(Self.pin(f, key: forger.publicKey)).write(to: URL(fileURLWithPath: pinPath))
        failures = try Self.check(folder, keys: f.keys)
        #expect(failures.contains { $0.hasPrefix("FAIL  recordings/BWV-0001-000001/BWV-0001-000001.manifest.json: signature: does not match") }, "\(failures)")
        #expect(failures.contains { $0.hasPrefix("FAIL  devices/BWV-0001.pin: inventory: SHA-256 differs") }, "\(failures)")
    }

    @Test func anotherTrustedRecordsKeyOrNoneFails() throws {
        let (f, folder) = try Self.bundle()
        let other = try DeviceIdentity.create(stateDirectory: TestSupport.temporaryDirectory("other"), deviceID: "RECORDS", utcNow: 0)
        let keys = TestSupport.temporaryDirectory("keys") + "/trusted-keys"
        try (TrustedKeys.line(deviceID: "RECORDS", key: other.publicKey) + "\n").write(toFile: keys, atomically: true, encoding: .utf8)
        let failures = try Self.check(folder, keys: keys)
        #expect(failures.contains { $0.hasPrefix("FAIL  bundle.json: signature: not signed by the trusted records key \(other.publicKey.fingerprint)") }, "\(failures)")
        #expect(failures.contains { $0.hasPrefix("FAIL  devices/BWV-0001.pin: pin: not signed by the trusted records key") }, "\(failures)")
        #expect(failures.contains { $0.hasPrefix("FAIL  records-key: records key: names key \(f.service.publicKey.fingerprint)") }, "\(failures)")
        let out = try TestSupport.verify(folder, keys: keys)
        #expect(out.status == 1, "\(out.stdout)")
        // The device's own key is not enough: only RECORDS is trusted for a bundle.
        let deviceOnly = TestSupport.temporaryDirectory("keys") + "/trusted-keys"
        try (TrustedKeys.line(deviceID: Self.device, key: f.deviceKey) + "\n").write(toFile: deviceOnly, atomically: true, encoding: .utf8)
        #expect(try Self.check(folder, keys: deviceOnly).contains { $0.contains("bundle.json: trust: no RECORDS key among the trusted keys") })
    }

    // MARK: - Links

    @Test func aSymlinkInPlaceOfASegmentIsRefusedNotFollowed() throws {
        let (f, folder) = try Self.bundle()
        let segment = folder + "/" + (try Self.segmentPath(f))
        let elsewhere = TestSupport.temporaryDirectory("elsewhere") + "/same.avi"
        try FileManager.default.moveItem(atPath: segment, toPath: elsewhere) // the same bytes: following it would pass
        try FileManager.default.createSymbolicLink(atPath: segment, withDestinationPath: elsewhere)
        let failures = try Self.check(folder, keys: f.keys)
        let rel = try Self.segmentPath(f)
        #expect(failures.contains("FAIL  \(rel): file: not a regular file (a symbolic link or device): not followed"), "\(failures)")
        // A recording folder replaced by a link to a copy of it: refused, its files never read through it.
        let second = folder + "/" + CourtBundleLayout.recordingFolder(Self.ids[1])
        let copy = TestSupport.temporaryDirectory("elsewhere") + "/copy"
        try FileManager.default.moveItem(atPath: second, toPath: copy)
        try FileManager.default.createSymbolicLink(atPath: second, withDestinationPath: copy)
        let report = CourtBundle.check(folder: folder, trusted: try TrustedKeys.read(f.keys))
        #expect(report.failures.map(\.description).contains("FAIL  recordings/BWV-0001-000002: file: not a regular file (a symbolic link or device): not followed"), "\(report.failures)")
        #expect(!report.findings.contains { $0.ok && $0.subject == Self.ids[1].text }, "\(report.findings)")
        #expect(!report.findings.contains { $0.subject.hasPrefix("recordings/BWV-0001-000002/") }, "\(report.findings)")
        // A linked bundle.json is refused the same way.
        try FileManager.default.removeItem(atPath: folder + "/bundle.json")
        try FileManager.default.createSymbolicLink(atPath: folder + "/bundle.json", withDestinationPath: elsewhere)
        #expect(try Self.check(folder, keys: f.keys) == ["FAIL  bundle.json: index: not a regular file (a symbolic link or device): not followed"])
    }

    // MARK: - The writer

    @Test func theWriterRefusesWhatWouldNotVerify() throws {
        let (f, folder) = try Self.bundle()
        let recordings = try Self.recordings(f)
        func write(to out: String? = nil, recordings r: [CourtBundle.Recording]? = nil, pins: [String: [UInt8]]? = nil,
                   trails: [String: CourtBundle.Trail] = [:], custody: [[UInt8]] = [], exportedBy: String = "DC 1234") throws {
            try CourtBundle.write(to: out ?? TestSupport.temporaryDirectory("w") + "/b", service: (f.service.publicKey, f.service.sign),
                                  exportedBy: exportedBy, caseReference: nil, createdUTC: 0, recordings: r ?? recordings,
                                  pins: pins ?? [Self.device: Self.pin(f)], trails: trails, custody: custody)
        }
        #expect(throws: EvidenceError.self) { try write(to: folder) } // not empty
        var swapped = recordings
        swapped[0].receipt = recordings[1].receipt
        #expect(throws: EvidenceError.self) { try write(recordings: swapped) } // a receipt of another manifest
        var changed = recordings
        changed[0].segments[0] = .bytes([1, 2, 3])
        #expect(throws: EvidenceError.self) { try write(recordings: changed) } // not the manifest's segment
        changed[0].segments[0] = recordings[1].segments[0]
        #expect(throws: EvidenceError.self) { try write(recordings: changed) } // another recording's segment file
        let other = try DeviceIdentity.create(stateDirectory: TestSupport.temporaryDirectory("o"), deviceID: "RECORDS", utcNow: 0)
        #expect(throws: EvidenceError.self) { try write(pins: [Self.device: Self.pin(f, key: other.publicKey)]) } // manifests not under it
        #expect(throws: EvidenceError.self) { try write(pins: [:]) }
        #expect(throws: EvidenceError.self) { try write(custody: [Self.custodyLine(f, seq: 2, action: "a", recording: nil),
                                                                  Self.custodyLine(f, seq: 2, action: "b", recording: nil)]) }
        #expect(throws: EvidenceError.self) { try write(exportedBy: "a\nb") }
        let trail = try Self.trail(f)
        #expect(throws: EvidenceError.self) { try write(trails: [Self.device: .init(trail: trail.trail, head: Array("{}\n".utf8))]) }
        #expect(throws: EvidenceError.self) { try write(trails: [Self.device: .init(trail: Array(trail.trail.dropLast(9)), head: trail.head)]) }
        #expect(throws: EvidenceError.self) { try write(trails: ["BWV-0002": trail]) } // no recording of that device
        #expect(throws: EvidenceError.self) { try write(recordings: recordings + [recordings[0]]) } // twice
        // Without a trail it still verifies (trails are optional).
        let noTrail = TestSupport.temporaryDirectory("w") + "/b"
        try write(to: noTrail)
        #expect(try Self.check(noTrail, keys: f.keys).isEmpty)
    }

    // MARK: - Hostile folders

    @Test func theCheckerIsTotalOnHostileBundles() throws {
        let (f, folder) = try Self.bundle()
        let trusted = try TrustedKeys.read(f.keys)
        let index = try FileBytes.contents(folder + "/bundle.json")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var b = index
            for _ in 0..<3 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            // It parses (a digit of a hash changed, say) only to fail the signature.
            if b != index, let p = try? CourtBundleIndex.parse(b) { #expect(!f.service.publicKey.isValidSignature(p.signature, for: p.body)) }
        }
        // A hostile folder: an index naming paths outside the bundle (signed, even), deep nesting, a FIFO.
        let hostile = TestSupport.temporaryDirectory("hostile")
        let evil = CourtBundleIndex(service: f.service.publicKey.fingerprint, createdUTC: 0, exportedBy: "x", caseReference: nil,
                                    recordings: [Self.ids[0]], files: [.init(path: "../../etc/passwd", bytes: 1, sha256: String(repeating: "0", count: 64))])
        try Data(evil.signed(f.service.sign)).write(to: URL(fileURLWithPath: hostile + "/bundle.json"))
        try FileManager.default.createDirectory(atPath: hostile + "/a/b/c/d/e", withIntermediateDirectories: true)
        mkfifo(hostile + "/records-key", 0o644)
        let failures = CourtBundle.check(folder: hostile, trusted: trusted).failures.map(\.description)
        #expect(failures.contains { $0.contains("bundle.json: index: file '../../etc/passwd' is not a bundle path") }, "\(failures)")
        for garbage in [[UInt8](), [10], Array("{}\n".utf8), Array(repeating: 0x7b, count: 5000)] {
            try Data(garbage).write(to: URL(fileURLWithPath: hostile + "/bundle.json"))
            #expect(!CourtBundle.check(folder: hostile, trusted: trusted).failures.isEmpty)
            #expect(!CourtBundle.check(folder: hostile, trusted: nil).failures.isEmpty)
        }
        // Everything else in the bundle, a byte at a time at random: never a trap, never a pass.
        let files = Verifier.files(under: folder, depth: 4).filter { !$0.hasSuffix(".avi") }
        for file in files {
            let original = try FileBytes.contents(file)
            var b = original
            b[Int.random(in: 0..<b.count, using: &rng)] ^= 0x20
            try Data(b).write(to: URL(fileURLWithPath: file))
            #expect(!CourtBundle.check(folder: folder, trusted: trusted).failures.isEmpty, "\(file)")
            try Data(original).write(to: URL(fileURLWithPath: file))
        }
        #expect(CourtBundle.check(folder: folder, trusted: trusted).failures.isEmpty)
    }
}
