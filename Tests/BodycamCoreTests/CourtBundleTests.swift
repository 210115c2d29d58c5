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
            return CourtBundle.Recording(manifest: signed.bytes, signature: signed.signature.fileBytes, receipt: receipt, pin: pin(f),
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
                              trails: [try trail(f)],
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
        for path in ["bundle.json", "records-key", "custody.jsonl", "devices/BWV-0001.\(f.deviceKey.fingerprintHex).pin", "recordings/BWV-0001-000001/BWV-0001-000001.manifest.json",
                     "recordings/BWV-0001-000001/BWV-0001-000001.manifest.sig", "recordings/BWV-0001-000002/BWV-0001-000002.receipt",
                     try Self.segmentPath(f, Self.ids[1])] {
            #expect(PosixFile.kind(folder + "/" + path) == .regular, "\(path)")
        }
        #expect(Verifier.files(under: folder + "/audit/BWV-0001.\(f.deviceKey.fingerprintHex)", depth: 1).count == 2)
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
            path = CourtBundleLayout.pin(Self.device, key: f.deviceKey)
            try Self.flip(folder + "/" + path, at: 30)
            expected = "\(path): pin: not signed by the trusted records key"
        case .custody:
            path = CourtBundleLayout.custodyFile
            try Self.replace(folder + "/" + path, "\"enrol\"", "\"enroL\"")
            expected = "\(path): custody: line 1: not signed by the records key"
        case .auditTrail:
            path = try #require(Verifier.files(under: folder + "/" + CourtBundleLayout.auditFolder(Self.device, fingerprint: f.deviceKey.fingerprintHex), depth: 1).first { $0.hasSuffix(".jsonl") })
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
        let pinName = CourtBundleLayout.pin(Self.device, key: f.deviceKey)
        let pinPath = folder + "/" + pinName
        // Another service's pin of another device key (what a forger re-signing everything would carry).
        let forger = try DeviceIdentity.create(stateDirectory: TestSupport.temporaryDirectory("forger"), deviceID: "RECORDS", utcNow: 0)
        try Data(Self.pin(f, key: forger.publicKey, signer: forger)).write(to: URL(fileURLWithPath: pinPath))
        var failures = try Self.check(folder, keys: f.keys)
        #expect(failures.contains { $0.hasPrefix("FAIL  \(pinName): pin: not signed by the trusted records key") }, "\(failures)")
        #expect(failures.contains { $0.contains("BWV-0001-000001.manifest.json: signature: its pin (\(pinName)) is not a valid pin") }, "\(failures)")
        // A pin signed by the records key, but of another device key: not the key its name says.
        try Data(Self.pin(f, key: forger.publicKey)).write(to: URL(fileURLWithPath: pinPath))
        failures = try Self.check(folder, keys: f.keys)
        #expect(failures.contains { $0.hasPrefix("FAIL  \(pinName): pin: pins key \(forger.publicKey.fingerprint), not the key its name says") }, "\(failures)")
        #expect(failures.contains { $0.hasPrefix("FAIL  \(pinName): inventory: SHA-256 differs") }, "\(failures)")
    }

    @Test func anotherTrustedRecordsKeyOrNoneFails() throws {
        let (f, folder) = try Self.bundle()
        let other = try DeviceIdentity.create(stateDirectory: TestSupport.temporaryDirectory("other"), deviceID: "RECORDS", utcNow: 0)
        let keys = TestSupport.temporaryDirectory("keys") + "/trusted-keys"
        try (TrustedKeys.line(deviceID: "RECORDS", key: other.publicKey) + "\n").write(toFile: keys, atomically: true, encoding: .utf8)
        let failures = try Self.check(folder, keys: keys)
        #expect(failures.contains { $0.hasPrefix("FAIL  bundle.json: signature: not signed by the trusted records key \(other.publicKey.fingerprint)") }, "\(failures)")
        #expect(failures.contains { $0.hasPrefix("FAIL  \(CourtBundleLayout.pin(Self.device, key: f.deviceKey)): pin: not signed by the trusted records key") }, "\(failures)")
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
        func write(to out: String? = nil, recordings r: [CourtBundle.Recording]? = nil,
                   trails: [CourtBundle.Trail] = [], custody: [[UInt8]] = [], exportedBy: String = "DC 1234") throws {
            try CourtBundle.write(to: out ?? TestSupport.temporaryDirectory("w") + "/b", service: (f.service.publicKey, f.service.sign),
                                  exportedBy: exportedBy, caseReference: nil, createdUTC: 0, recordings: r ?? recordings,
                                  trails: trails, custody: custody)
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
        var otherPin = recordings
        otherPin[0].pin = Self.pin(f, key: other.publicKey)
        #expect(throws: EvidenceError.self) { try write(recordings: otherPin) } // the manifest is not under it
        otherPin[0].pin = recordings[0].receipt
        #expect(throws: EvidenceError.self) { try write(recordings: otherPin) } // not a pin
        #expect(throws: EvidenceError.self) { try write(custody: [Self.custodyLine(f, seq: 2, action: "a", recording: nil),
                                                                  Self.custodyLine(f, seq: 2, action: "b", recording: nil)]) }
        #expect(throws: EvidenceError.self) { try write(exportedBy: "a\nb") }
        let trail = try Self.trail(f)
        #expect(throws: EvidenceError.self) { try write(trails: [.init(trail: trail.trail, head: Array("{}\n".utf8))]) }
        #expect(throws: EvidenceError.self) { try write(trails: [.init(trail: Array(trail.trail.dropLast(9)), head: trail.head)]) }
        #expect(throws: EvidenceError.self) { try write(trails: [trail, trail]) } // two trails of one key
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
                                    recordings: [Self.ids[0]], pins: nil, files: [.init(path: "../../etc/passwd", bytes: 1, sha256: String(repeating: "0", count: 64))])
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

/// Pin history in court bundles: a device revoked and enrolled again with a new key has a pin per key;
/// each recording is checked under the pin it was received under (the index names it), and a key cannot
/// vouch for what was received after a newer pin replaced it. Bundles written before (format 1, one
/// `devices/<ID>.pin`) keep verifying.
struct CourtBundlePinHistoryTests {
    typealias T = CourtBundleTests
    static let second = 1_000_000_000 as Int64

    /// Key B: the camera re-keyed (a new identity under the same device id).
    static let keyB = Result { try DeviceIdentity.create(stateDirectory: TestSupport.temporaryDirectory("keyB"), deviceID: T.device, utcNow: 0) }

    static func pin(_ f: T.Fixture, _ key: PublicKey, at utc: Int64) -> [UInt8] {
        ServiceStatement(kind: .pin, service: f.service.publicKey.fingerprint, deviceID: T.device, utc: utc, custodySeq: 1,
                         deviceKey: key).signed(f.service.sign)
    }

    static func receipt(_ f: T.Fixture, _ r: CourtBundle.Recording, at utc: Int64, key: PublicKey?) throws -> [UInt8] {
        let m = try RecordingManifest.parse(r.manifest)
        return ServiceStatement(kind: .receipt, service: f.service.publicKey.fingerprint, deviceID: T.device, utc: utc, custodySeq: 2,
                                deviceKey: key, recordingID: m.recordingID, manifestSHA256: Hex.sha256(r.manifest)).signed(f.service.sign)
    }

    /// Recording 1 received under key A (pinned at 1 s, received at 2 s, revoked after); recording 2
    /// signed by key B (pinned at 3 s) and received at 4 s. `keyInReceipts`: receipts as written since
    /// pin history (naming the key), or as before.
    static func reKeyed(keyInReceipts: Bool = true) throws -> (T.Fixture, [CourtBundle.Recording], DeviceIdentity) {
        let f = try T.fixture()
        let b = try keyB.get()
        var r = try T.recordings(f)
        r[0].pin = pin(f, f.deviceKey, at: 1 * second)
        r[0].receipt = try receipt(f, r[0], at: 2 * second, key: keyInReceipts ? f.deviceKey : nil)
        r[1].signature = b.sign(r[1].manifest).fileBytes
        r[1].pin = pin(f, b.publicKey, at: 3 * second)
        r[1].receipt = try receipt(f, r[1], at: 4 * second, key: keyInReceipts ? b.publicKey : nil)
        return (f, r, b)
    }

    static func write(_ f: T.Fixture, _ r: [CourtBundle.Recording], trails: [CourtBundle.Trail] = [], _ name: String = #function) throws -> String {
        let folder = TestSupport.temporaryDirectory(name) + "/bundle"
        try CourtBundle.write(to: folder, service: (f.service.publicKey, f.service.sign), exportedBy: "DC 1234 Smith", caseReference: nil,
                              createdUTC: 5 * second, recordings: r, trails: trails, custody: [])
        return folder
    }

    /// Rewrites `bundle.json` after `edit` (files renamed or changed: listed again with their size and
    /// SHA-256) and signs it with the records key: what only the records service could do, so the checks
    /// below are the checker's own, not the index signature's.
    static func resign(_ folder: String, _ f: T.Fixture, _ edit: (inout CourtBundleIndex) throws -> Void) throws {
        var index = try CourtBundleIndex.parse(try FileBytes.contents(folder + "/bundle.json")).index
        try edit(&index)
        index.files = try index.files.map { file in
            let bytes = try FileBytes.contents(folder + "/" + file.path)
            return .init(path: file.path, bytes: bytes.count, sha256: Hex.sha256(bytes))
        }.sorted { $0.path < $1.path }
        try Data(index.signed(f.service.sign)).write(to: URL(fileURLWithPath: folder + "/bundle.json"))
    }

    @Test func aReKeyedDeviceHasAPinPerKeyAndEachRecordingVerifiesUnderItsOwn() throws {
        for keyInReceipts in [true, false] {
            let (f, r, b) = try Self.reKeyed(keyInReceipts: keyInReceipts)
            // The camera's trail is signed by key A and logged both manifests: it goes with pin A, checked
            // against recording 1 only (recording 2 was received under B).
            let folder = try Self.write(f, r, trails: [try T.trail(f)])
            let pinA = CourtBundleLayout.pin(T.device, key: f.deviceKey), pinB = CourtBundleLayout.pin(T.device, key: b.publicKey)
            #expect(PosixFile.list(folder + "/devices").sorted() == [pinA, pinB].map { String($0.dropFirst("devices/".count)) }.sorted())
            #expect(PosixFile.kind(folder + "/" + CourtBundleLayout.auditFolder(T.device, fingerprint: f.deviceKey.fingerprintHex)) == .directory)
            let index = try CourtBundleIndex.parse(try FileBytes.contents(folder + "/bundle.json")).index
            #expect(index.pins == [T.ids[0]: pinA, T.ids[1]: pinB])
            let report = CourtBundle.check(folder: folder, trusted: try TrustedKeys.read(f.keys))
            #expect(report.failures.isEmpty, "\(report.failures)")
            #expect(report.keysUsed[T.device]?.contains(f.deviceKey.fingerprint) == true && report.keysUsed[T.device]?.contains(b.publicKey.fingerprint) == true)
            let out = try TestSupport.verify(folder, keys: f.keys)
            #expect(out.status == 0 && out.stdout.contains("court bundle of 2 recording(s)"), "\(out.stdout)")
        }
    }

    @Test func aRecordingWhoseIndexPointsAtTheWrongPinFails() throws {
        let (f, r, b) = try Self.reKeyed()
        let folder = try Self.write(f, r)
        let pinA = CourtBundleLayout.pin(T.device, key: f.deviceKey), pinB = CourtBundleLayout.pin(T.device, key: b.publicKey)
        // Recording 1 pointed at pin B (pin A, named by no recording now, removed): checked under B, it fails.
        try FileManager.default.removeItem(atPath: folder + "/" + pinA)
        try Self.resign(folder, f) { index in
            index.pins?[T.ids[0]] = pinB
            index.files.removeAll { $0.path == pinA }
        }
        let failures = try T.check(folder, keys: f.keys)
        let manifest = CourtBundleLayout.manifest(T.ids[0]), receipt = CourtBundleLayout.receipt(T.ids[0])
        #expect(failures.contains { $0.hasPrefix("FAIL  \(manifest): signature: does not match") }, "\(failures)")
        #expect(failures.contains { $0.hasPrefix("FAIL  \(receipt): pin: the receipt names device key \(f.deviceKey.fingerprint)") }, "\(failures)")
        #expect(!failures.contains { $0.hasPrefix("FAIL  \(CourtBundleLayout.manifest(T.ids[1]))") }, "\(failures)")
        // Pin A still carried but named by no recording: the index is refused (a bundle carries exactly its pins).
        let carried = try Self.write(f, r, "unusedPinCarried")
        try Self.resign(carried, f) { $0.pins?[T.ids[0]] = pinB }
        #expect(try T.check(carried, keys: f.keys).contains { $0.contains("bundle.json: index:") && $0.contains("of a key no recording here was received under") })
        // The writer never makes it: recording 1 under B's pin, or B's pin under A's name.
        var wrong = r
        wrong[0].pin = r[1].pin
        #expect(throws: EvidenceError.self) { try Self.write(f, wrong, "wrongPinWriter") }
        // A pin file whose name says another key than it pins.
        let other = try Self.write(f, r, "pinNamedForAnotherKey")
        try FileManager.default.removeItem(atPath: other + "/" + pinA)
        try FileManager.default.copyItem(atPath: other + "/" + pinB, toPath: other + "/" + pinA)
        try Self.resign(other, f) { _ in }
        #expect(try T.check(other, keys: f.keys).contains { $0.hasPrefix("FAIL  \(pinA): pin: pins key \(b.publicKey.fingerprint), not the key its name says") })
    }

    @Test func anOldKeyCannotVouchForWhatWasReceivedAfterANewerPin() throws {
        // Receipts without the key (as before pin history): only the times tell. Recording 1 received at 4 s
        // under key A, after pin B (3 s) replaced it: what a stolen camera's key would need.
        var (f, r, _) = try Self.reKeyed(keyInReceipts: false)
        r[0].receipt = try Self.receipt(f, r[0], at: 4 * Self.second, key: nil)
        #expect(throws: EvidenceError.self) { try Self.write(f, r, "afterNewerPin") }
        // Received before its own pin was made.
        (f, r, _) = try Self.reKeyed(keyInReceipts: false)
        r[1].receipt = try Self.receipt(f, r[1], at: 2 * Self.second, key: nil)
        #expect(throws: EvidenceError.self) { try Self.write(f, r, "beforeItsPin") }
        // A receipt naming another key than the recording's pin.
        (f, r, _) = try Self.reKeyed()
        r[0].receipt = try Self.receipt(f, r[0], at: 2 * Self.second, key: try Self.keyB.get().publicKey)
        #expect(throws: EvidenceError.self) { try Self.write(f, r, "receiptOfAnotherKey") }

        // The checker says it too (a bundle re-signed by the records key with recording 1's receipt swapped).
        (f, r, _) = try Self.reKeyed(keyInReceipts: false)
        let folder = try Self.write(f, r)
        let late = try Self.receipt(f, r[0], at: 4 * Self.second, key: nil)
        try Data(late).write(to: URL(fileURLWithPath: folder + "/" + CourtBundleLayout.receipt(T.ids[0])))
        try Self.resign(folder, f) { _ in }
        let failures = try T.check(folder, keys: f.keys)
        #expect(failures.contains { $0.hasPrefix("FAIL  \(CourtBundleLayout.receipt(T.ids[0])): pin: received at") && $0.contains("after a newer pin") }, "\(failures)")
    }

    /// A bundle as written before pin history (format 1: `devices/<ID>.pin`, `audit/<ID>/`, recordings a
    /// list of ids): made from a new one by moving the pin and trail back and signing the old index form.
    @Test func aBundleOfTheFirstFormatStillVerifies() throws {
        let (f, folder) = try T.bundle()
        let fp = f.deviceKey.fingerprintHex
        try FileManager.default.moveItem(atPath: folder + "/" + CourtBundleLayout.pin(T.device, key: f.deviceKey),
                                         toPath: folder + "/" + CourtBundleLayout.legacyPin(T.device))
        try FileManager.default.moveItem(atPath: folder + "/" + CourtBundleLayout.auditFolder(T.device, fingerprint: fp),
                                         toPath: folder + "/" + CourtBundleLayout.auditFolder(T.device, fingerprint: nil))
        try Self.resign(folder, f) { index in
            index.pins = nil
            for i in index.files.indices {
                index.files[i].path = index.files[i].path.replacingOccurrences(of: "." + fp, with: "")
            }
        }
        let text = try String(contentsOfFile: folder + "/bundle.json", encoding: .utf8)
        #expect(text.hasPrefix(#"{"format":"bodycam-bundle/1""#) && text.contains(#""recordings":["BWV-0001-000001","BWV-0001-000002"]"#), "\(text)")
        let report = CourtBundle.check(folder: folder, trusted: try TrustedKeys.read(f.keys))
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.findings.contains { $0.ok && $0.subject.hasPrefix("audit/BWV-0001/") }, "\(report.findings)")
        #expect(try TestSupport.verify(folder, keys: f.keys).status == 0)
        // Its old rules hold: a changed pin is named under its old name.
        try CourtBundleTests.flip(folder + "/" + CourtBundleLayout.legacyPin(T.device), at: 30)
        #expect(try T.check(folder, keys: f.keys).contains { $0.hasPrefix("FAIL  devices/BWV-0001.pin: pin: not signed by the trusted records key") })
    }
}
