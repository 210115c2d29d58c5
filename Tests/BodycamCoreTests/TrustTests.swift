import Crypto
import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// The attacks of issue 10 on the evidence and the records, one test each: a full forgery, laundering by
/// recovery, deletions, an impostor at the records, a traversal in a manifest, links at the records.
/// Each is refused with a message that names the file and the check.
@Suite(.serialized)
struct TrustTests {
    static let options = ["--size", "160x120", "--prerecord", "2s"]
    static let twoRecordings = "wait 3s\ntrigger holster\nwait 2s\nhold record 3s\nwait 2s\ndouble record\nwait 1s\nhold record 3s\n"

    /// A device storage with two recordings (and, with `records`, docked and offloaded there).
    static func storage(_ name: String = #function, script: String = twoRecordings, records: String? = nil,
                        extra: [String] = []) throws -> String {
        try TestSupport.deviceStorage(name, options: options + extra, script: script, records: records)
    }

    static func recordings(_ storage: String) -> String { storage + "/recordings" }
    static func file(_ storage: String, _ name: String) -> String { recordings(storage) + "/" + name }

    static func editFrame(_ segment: String) throws {
        // A byte inside the first frame's entropy-coded data: the picture changes, the file still plays.
        let avi = try AVIReader.read(path: segment)
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: segment))
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(avi.frames[0].upperBound - 40))
        try h.write(contentsOf: [0x55])
    }

    // MARK: - A full forgery

    /// Edit a frame, recompute the hash, re-sign manifest and audit trail with a new key and replace
    /// device.json: checked against the key enrolment recorded, it fails; without trusted keys, verify
    /// never says "verified" and exits 3.
    @Test func aForgeryWithANewKeyAndAReplacedDeviceJSONIsRefused() throws {
        let genuine = try Self.storage()
        let keys = try TestSupport.trustedKeys([genuine])
        #expect(try TestSupport.verify(genuine, keys: keys).status == 0)
        // The forger: a new key, and everything re-signed with it.
        let forger = DeviceIdentity(signingKey: Curve25519.Signing.PrivateKey(), deviceID: "BWV-0001", createdUTC: 0)
        var trail = try String(contentsOfFile: genuine + "/state/audit.jsonl", encoding: .utf8)
        for n in 1...2 {
            let id = EvidenceNames.RecordingID(deviceID: "BWV-0001", number: n)
            var signed = try SignedManifest.read(directory: Self.recordings(genuine), id: id)
            if n == 1 {
                let segment = Self.file(genuine, signed.manifest.segments[0].file)
                try Self.editFrame(segment)
                signed.manifest.segments[0].sha256 = try #require(FileBytes.sha256(segment))
            }
            let digest = try signed.manifest.write(to: Self.recordings(genuine), identity: forger)
            trail = trail.replacingOccurrences(of: signed.sha256, with: digest) // the trail logs the forged manifest
        }
        try trail.write(toFile: genuine + "/state/audit.jsonl", atomically: true, encoding: .utf8)
        try FileBytes.writeDurably(genuine + "/state/device.json", forger.info.bytes)
        try Self.resignAuditTrail(genuine, with: forger)
        // Against the trusted key: refused, naming the manifest and the check.
        let out = try TestSupport.verify(genuine, keys: keys)
        #expect(out.status == 1)
        #expect(out.stdout.contains("BWV-0001-000001.manifest.json: signature: does not match"), "\(out.stdout)")
        #expect(out.stdout.contains("audit.jsonl: audit: audit checkpoint"), "\(out.stdout)")
        // Without trusted keys the forgery is internally consistent, and verify still will not vouch for it.
        let untrusted = try TestSupport.bodycam(["verify", genuine])
        #expect(untrusted.status == 3, "\(untrusted.stdout)")
        #expect(!untrusted.stdout.contains("verified:") && untrusted.stdout.contains("NOT VERIFIED"))
        #expect(untrusted.stdout.contains(forger.publicKey.fingerprint)) // it names the key it used
    }

    /// Rewrites every checkpoint signature and the head with `identity` (what a forger with a new key does).
    static func resignAuditTrail(_ storage: String, with identity: DeviceIdentity) throws {
        let path = storage + "/state/audit.jsonl"
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        var prev = AuditLog.genesis
        var bytes = 0
        for i in lines.indices {
            // Every entry ends with its own signature: take it off, fix the chain, sign again with `identity`.
            lines[i] = lines[i].replacing(/,"sig":"[^"]*"\}$/, with: "}")
            lines[i] = lines[i].replacing(/"prev":"[0-9a-f]{64}"/, with: "\"prev\":\"\(prev)\"")
            if lines[i].contains("\"event\":\"checkpoint\"") {
                lines[i] = lines[i].replacing(/"signature":"[^"]*"/, with: "\"signature\":\"\(identity.sign(Array(prev.utf8)).base64)\"")
            }
            let body = Array(lines[i].utf8.dropLast())
            lines[i] = String(decoding: body + AuditTrail.signatureField(identity.sign(body)), as: UTF8.self)
            prev = Hex.encode(SHA256.hash(data: Array(lines[i].utf8)))
            bytes += lines[i].utf8.count + 1
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let old = try AuditHead.read(storage + "/state/audit-head.json")
        let message = AuditHead.message(deviceID: old.deviceID, entries: lines.count, bytes: bytes, lastSHA256: prev, utc: old.utc)
        let head = AuditHead(deviceID: old.deviceID, entries: lines.count, bytes: bytes, lastSHA256: prev, utc: old.utc,
                             signature: identity.sign(message))
        try FileBytes.writeDurably(storage + "/state/audit-head.json", head.fileBytes)
    }

    // MARK: - Recovery does not launder

    /// Edit a frame, rename the segment to .part, delete manifest and signature: the next boot rebuilds
    /// and signs it as recovered, but with the manifest hash the audit trail had logged, and verify says so.
    @Test func recoveryAfterAFinalizedManifestWasRemovedIsFlagged() throws {
        let storage = try Self.storage()
        let keys = try TestSupport.trustedKeys([storage])
        let id = EvidenceNames.RecordingID(deviceID: "BWV-0001", number: 1)
        let signed = try SignedManifest.read(directory: Self.recordings(storage), id: id)
        let segment = Self.file(storage, signed.manifest.segments[0].file)
        try Self.editFrame(segment)
        try FileManager.default.moveItem(atPath: segment, toPath: segment + ".part")
        try FileManager.default.removeItem(atPath: Self.file(storage, EvidenceNames.manifestName(id)))
        try FileManager.default.removeItem(atPath: Self.file(storage, EvidenceNames.signatureName(id)))
        let boot = try TestSupport.bodycam(["run", "--storage", storage] + Self.options, stdin: "quit\n")
        #expect(boot.status == 0, "\(boot.stderr)")
        let rebuilt = try SignedManifest.read(directory: Self.recordings(storage), id: id).manifest
        #expect(rebuilt.recovered && rebuilt.loggedManifestSHA256 == signed.sha256)
        let out = try TestSupport.verify(storage, keys: keys)
        #expect(out.status == 1)
        #expect(out.stdout.contains("BWV-0001-000001.manifest.json: recovery: recovered after the audit trail had logged its manifest"),
                "\(out.stdout)")
    }

    // MARK: - Deletions

    @Test func deletingAWholeRecordingIsDetected() throws {
        let storage = try Self.storage()
        let keys = try TestSupport.trustedKeys([storage])
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.recordings(storage)) where name.contains("BWV-0001-000002") {
            try FileManager.default.removeItem(atPath: Self.file(storage, name))
        }
        let out = try TestSupport.verify(storage, keys: keys)
        #expect(out.status == 1)
        #expect(out.stdout.contains("audit.jsonl: audit: recording BWV-0001-000002 is logged in the audit trail but missing"), "\(out.stdout)")
    }

    @Test func cuttingTheAuditTrailAtAnyLineIsDetected() throws {
        let storage = try Self.storage()
        let keys = try TestSupport.trustedKeys([storage])
        let path = storage + "/state/audit.jsonl"
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count > 10)
        for keep in 0..<lines.count {
            let copy = TestSupport.temporaryDirectory("cut")
            try FileManager.default.removeItem(atPath: copy)
            try FileManager.default.copyItem(atPath: storage, toPath: copy)
            defer { try? FileManager.default.removeItem(atPath: copy) }
            try (lines.prefix(keep).joined(separator: "\n") + (keep > 0 ? "\n" : "")).write(toFile: copy + "/state/audit.jsonl",
                                                                                              atomically: true, encoding: .utf8)
            let out = try TestSupport.verify(copy, keys: keys)
            #expect(out.status == 1, "the trail cut to \(keep) of \(lines.count) lines verified:\n\(out.stdout)")
            #expect(out.stdout.contains("audit.jsonl: audit: audit head: signed for \(lines.count) entries"), "\(out.stdout)")
        }
    }

    /// Time in the trail only goes forward except at a logged clock correction; a crafted trail whose time
    /// goes back, chained and signed by the genuine key, is still refused.
    @Test func auditTimeGoingBackwardsIsFlagged() throws {
        let dir = TestSupport.temporaryDirectory()
        let identity = try DeviceIdentity.create(stateDirectory: dir + "/state", deviceID: "T-9", utcNow: 0)
        // The writer clamps time: log entries with a decreasing clock and see them clamped.
        let log = try AuditLog(path: dir + "/state/audit.jsonl", identity: identity)
        log.append("a", mono: 0, utc: 2_000 * Nanos.perSecond)
        log.append("b", mono: 0, utc: 1_000 * Nanos.perSecond)
        log.append("clock-sync", mono: 0, utc: 500 * Nanos.perSecond)
        log.append("c", mono: 0, utc: 600 * Nanos.perSecond)
        log.checkpoint(mono: 0, utc: 600 * Nanos.perSecond)
        let trail = try AuditTrail.parse(try FileBytes.contents(dir + "/state/audit.jsonl"))
        #expect(trail.lines.map { $0.utc / Nanos.perSecond } == [2000, 2000, 500, 600, 600])
        try trail.checkTimeOrder()
        // A forged step back (re-chained and re-signed with the genuine key) is caught.
        var lines = try String(contentsOfFile: dir + "/state/audit.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1] = lines[1].replacingOccurrences(of: "1970-01-01T00:33:20.000Z", with: "1970-01-01T00:16:40.000Z")
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/state/audit.jsonl", atomically: true, encoding: .utf8)
        try Self.resignAuditTrail(dir, with: identity)
        let forged = try AuditTrail.parse(try FileBytes.contents(dir + "/state/audit.jsonl"))
        #expect(throws: EvidenceError.self) { try forged.checkTimeOrder() }
        let keys = try RecoveryTests.keys(identity)
        let out = try TestSupport.verify(dir + "/state/audit.jsonl", keys: keys)
        #expect(out.status == 1 && out.stdout.contains("audit entry 2: time goes backwards"), "\(out.stdout)")
    }

    // MARK: - The records

    /// A second camera with the same device id and a new key docks into the same records: refused before
    /// a byte is stored; the genuine recordings, device.json and trail there are untouched; the impostor
    /// keeps its local copies.
    @Test func anImpostorWithTheSameDeviceIDIsRefusedAtTheRecords() throws {
        let records = TestSupport.temporaryDirectory("records")
        let genuine = try Self.storage("genuine", script: Self.twoRecordings + "dock\nwait 10s\n", records: records)
        #expect(try TestSupport.verifyRecords(records).status == 0)
        let before = try Self.snapshot(records)
        let impostor = TestSupport.temporaryDirectory("impostor")
        let out = try TestSupport.bodycam(["run", "--storage", impostor, "--records", records] + Self.options,
                                          stdin: Self.twoRecordings + "dock\nwait 10s\nexpect local_recordings 2\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let failed = try #require(out.events("offload").first { $0["action"] as? String == "failed" })
        #expect((failed["message"] as? String ?? "").contains("device BWV-0001 is enrolled with key"), "\(failed)")
        #expect(out.events("expect").allSatisfy { $0["ok"] as? Bool == true } && out.events("expect").count == 1)
        #expect(try Self.snapshot(records) == before)
        #expect(TestSupport.segments(in: impostor).count == 2)
        #expect(try TestSupport.verifyRecords(records).status == 0)
        _ = genuine
    }

    /// Every file under a folder with its SHA-256.
    static func snapshot(_ root: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for f in Verifier.files(under: root, depth: 5) { out[f] = FileBytes.sha256(f) ?? "?" }
        return out
    }

    /// A manifest listing `../../../victim.txt`, signed with the camera's own key: the offloader refuses the
    /// name (it never copies or deletes the victim), and keeps the recording.
    @Test func aManifestNamingAPathOutsideTheStorageIsNotOffloaded() throws {
        let storage = try Self.storage()
        let victim = storage + "/victim.txt"
        try "do not touch".write(toFile: victim, atomically: true, encoding: .utf8)
        let key = try FileBytes.contents(storage + "/state/device.key")
        let identity = DeviceIdentity(signingKey: try Curve25519.Signing.PrivateKey(rawRepresentation: try #require(Hex.decode(
            String(decoding: key.dropLast(), as: UTF8.self)))), deviceID: "BWV-0001", createdUTC: 0)
        let id = EvidenceNames.RecordingID(deviceID: "BWV-0001", number: 1)
        var manifest = try SignedManifest.read(directory: Self.recordings(storage), id: id).manifest
        manifest.segments[0].file = "../victim.txt"
        try manifest.write(to: Self.recordings(storage), identity: identity)
        // The offloader on its own: it skips the recording, naming why.
        let records = TestSupport.temporaryDirectory("records")
        let offloader = Offloader(target: RecordsFolder(root: records), recordingsDirectory: Self.recordings(storage),
                                  auditPath: storage + "/state/audit.jsonl", identity: identity, deviceInfo: identity.info,
                                  checkpoint: { nil })
        offloader.start()
        #expect(offloader.skipped.map(\.name) == [EvidenceNames.manifestName(id)])
        #expect(offloader.skipped.first?.reason.contains("is not segment 1 of BWV-0001-000001") == true, "\(offloader.skipped)")
        #expect(offloader.progress.recordingsTotal == 1)
        // The camera: at boot the manifest does not check out and is quarantined; the dock sends the rest.
        let out = try TestSupport.bodycam(["run", "--storage", storage, "--records", records] + Self.options,
                                          stdin: "dock\nwait 10s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let quarantined = try #require(out.events("recovery").first?["quarantined"] as? [[String: Any]])
        #expect(quarantined.contains { $0["file"] as? String == EvidenceNames.manifestName(id) })
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "do not touch")
        #expect(!Verifier.files(under: records, depth: 5).contains { $0.hasSuffix("victim.txt") })
    }

    /// A segment at the records that is a link to the camera's own file is not "already verified", and a
    /// device folder that is a link is not followed: the dock refuses, and deletes nothing.
    @Test(arguments: ["segment", "device-folder"])
    func linksPlantedAtTheRecordsAreRefused(kind: String) throws {
        let storage = try Self.storage("links-\(kind)")
        let records = TestSupport.temporaryDirectory("records")
        let id = EvidenceNames.RecordingID(deviceID: "BWV-0001", number: 1)
        let manifest = try SignedManifest.read(directory: Self.recordings(storage), id: id).manifest
        let fm = FileManager.default
        if kind == "segment" {
            // Pin the genuine key first, as an earlier dock would have.
            try RecordsFolder(root: records).admit(device: try DeviceInfo.read(storage + "/state/device.json"))
            try fm.createDirectory(atPath: records + "/BWV-0001/" + id.text, withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: records + "/BWV-0001/" + id.text + "/" + manifest.segments[0].file,
                                      withDestinationPath: Self.file(storage, manifest.segments[0].file))
        } else {
            let elsewhere = TestSupport.temporaryDirectory("elsewhere")
            try fm.createSymbolicLink(atPath: records + "/BWV-0001", withDestinationPath: elsewhere)
        }
        let out = try TestSupport.bodycam(["run", "--storage", storage, "--records", records] + Self.options,
                                          stdin: "dock\nwait 10s\nexpect local_recordings 2\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let failed = try #require(out.events("offload").first { $0["action"] as? String == "failed" })
        #expect((failed["message"] as? String ?? "").contains("refused"), "\(failed)")
        #expect(out.events("expect").count == 1 && out.events("expect").allSatisfy { $0["ok"] as? Bool == true })
        #expect(TestSupport.segments(in: storage).count == 2)
    }

    /// Records are write-once: a different file under an existing name is refused, never replaced.
    @Test func aDifferentFileUnderAnExistingNameIsRefused() throws {
        let records = TestSupport.temporaryDirectory("records")
        let target = RecordsFolder(root: records)
        let t = try target.begin(device: "BWV-7", folder: "BWV-7-000001", file: "BWV-7-000001.manifest.sig")
        let first = Array("one\n".utf8), second = Array("two\n".utf8)
        try first.withUnsafeBytes { try t.append($0) }
        #expect(try t.finish(sha256: Hex.encode(SHA256.hash(data: first))))
        #expect(try target.stored(device: "BWV-7", folder: "BWV-7-000001", file: "BWV-7-000001.manifest.sig",
                                  sha256: Hex.encode(SHA256.hash(data: second))) == .different)
        let u = try target.begin(device: "BWV-7", folder: "BWV-7-000001", file: "BWV-7-000001.manifest.sig")
        try second.withUnsafeBytes { try u.append($0) }
        #expect(throws: RecordsError.self) { try u.finish(sha256: Hex.encode(SHA256.hash(data: second))) }
        #expect(try FileBytes.contents(records + "/BWV-7/BWV-7-000001/BWV-7-000001.manifest.sig") == first)
        // Names from data that are not evidence names are refused outright.
        for (folder, file) in [("BWV-7-000001", "../x"), ("..", "BWV-7-000001.manifest.sig"), ("BWV-8-000001", "BWV-8-000001.manifest.sig"),
                               ("audit", "12.jsonl"), ("BWV-7-000001", "BWV-7-000001.manifest.sig/.."),
                               // Audit copies: 9 digits, then optionally a dot and a key's 16 lower-case hex digits.
                               ("audit", "000000012.../x.jsonl"), ("audit", "000000012./../../x.jsonl"), ("audit", "../000000012.jsonl"),
                               ("audit", "000000012.0123456789abcde.jsonl"), ("audit", "000000012.0123456789abcdef0.head.json"),
                               ("audit", "000000012.0123456789ABCDEF.jsonl"), ("audit", "000000012.0123456789abcdeg.head.json"),
                               ("audit", "000000012..jsonl"), ("audit", "000000012.0123456789abcdef.0123456789abcdef.jsonl"),
                               ("audit", "000000012.0123456789abcdef.json"), ("audit", "00000001x.0123456789abcdef.jsonl"),
                               ("audit", ".0123456789abcdef.jsonl"), ("audit", "000000012.0123456789abcdef/.jsonl")] {
            #expect(throws: RecordsError.self) { _ = try target.begin(device: "BWV-7", folder: folder, file: file) }
        }
        for file in ["000000012.jsonl", "000000012.head.json", "000000012.0123456789abcdef.jsonl", "000000012.0123456789abcdef.head.json"] {
            #expect(RecordsNames.isAcceptable(device: "BWV-7", folder: RecordsNames.auditFolder, file: file), "\(file)")
            #expect(RecordsNames.AuditCopy.parse(file)?.file == file)
        }
        #expect(RecordsNames.auditCopy(entries: 12, fingerprint: "0123456789abcdef") == "000000012.0123456789abcdef.jsonl")
        #expect(RecordsNames.AuditCopy.parse("000000012.0123456789abcdef.head.json")?.trail.file == "000000012.0123456789abcdef.jsonl")
    }

    /// Dock cycles: one audit trail copy at the records per dock.
    static func docks(_ n: Int) -> String { String(repeating: "dock\nwait 5s\nundock\nwait 1s\n", count: n) }

    /// A camera given a new key (its key removed: a new key, its old trail quarantined, a new trail begun)
    /// docks into records whose operator re-pinned the device (the pin and device.json removed): the new
    /// trail's copies take names of their own (the key's fingerprint) even where an old copy has the same
    /// entry count, so none is refused as different; each trail verifies under its own key.
    @Test func aReKeyedCameraKeepsItsNewTrailApartFromTheOldOne() throws {
        let records = TestSupport.temporaryDirectory("records")
        let storage = try Self.storage(script: Self.twoRecordings + Self.docks(8), records: records)
        let keysA = try TestSupport.trustedKeys([storage])
        let keyA = try DeviceInfo.read(storage + "/state/" + DeviceIdentity.infoFileName).publicKey
        for name in [DeviceIdentity.keyFileName, DeviceIdentity.infoFileName] { try FileManager.default.removeItem(atPath: storage + "/state/" + name) }
        try FileManager.default.removeItem(atPath: records + "/" + RecordsNames.trustedKeysFile)
        try FileManager.default.removeItem(atPath: records + "/BWV-0001/" + DeviceIdentity.infoFileName)
        let out = try TestSupport.bodycam(["run", "--strict", "--storage", storage, "--records", records, "--offload-rate", "100000000"] + Self.options,
                                          // A dock cycle logs 9 entries, stealth on or off 1: eighteen (stealth off
                                          // again) put the new trail's copies on entry counts of the old trail's.
                                          stdin: String(repeating: "hold function 3s\nwait 2s\n", count: 18) + Self.docks(8) + "quit\n")
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.events("offload").allSatisfy { $0["action"] as? String != "failed" }, "\(out.stdout)")
        let keyB = try DeviceInfo.read(storage + "/state/" + DeviceIdentity.infoFileName).publicKey
        #expect(keyA != keyB)
        let copies = try FileManager.default.contentsOfDirectory(atPath: records + "/BWV-0001/audit").compactMap { RecordsNames.AuditCopy.parse($0) }
        let a = Set(copies.filter { !$0.isHead && $0.fingerprint == keyA.fingerprintHex }.map(\.entries))
        let b = Set(copies.filter { !$0.isHead && $0.fingerprint == keyB.fingerprintHex }.map(\.entries))
        #expect(a.count == 8 && b.count == 8, "\(copies.map(\.file).sorted())")
        try #require(!a.isDisjoint(with: b), "the scripts no longer make a copy of each trail with the same entry count: \(a.sorted()) \(b.sorted())")
        // Each trail verifies under its key; the other key's trail is named, not taken for this one.
        // The old trail verifies under key A; the new one is checked under key B (and names the old trail it
        // set aside at boot: `audit-quarantined`, which a records folder's check counts against it); each
        // names the other key's trail as another key's, not a damaged copy of its own.
        for (keys, own, other) in [(keysA, keyA, keyB), (records + "/trusted-keys", keyB, keyA)] {
            let verify = try TestSupport.verify(records, keys: keys)
            #expect(verify.lines.contains { $0.contains(".\(own.fingerprintHex).jsonl") && ($0.hasPrefix("ok") || $0.contains("set aside at boot")) },
                    "\(verify.stdout)")
            #expect(verify.lines.contains { $0.hasPrefix("FAIL") && $0.contains(".\(other.fingerprintHex).jsonl") && $0.contains("new key") },
                    "\(verify.stdout)")
        }
        #expect(try TestSupport.verify(records, keys: keysA).lines.contains { $0.hasPrefix("ok") && $0.contains(".\(keyA.fingerprintHex).jsonl") })
    }

    /// Records docked before fingerprinted names (`audit/000000123.jsonl`): still verified, alone or
    /// followed by fingerprinted copies of the same trail.
    @Test func auditCopiesNamedBeforeFingerprintsStillVerify() throws {
        let records = TestSupport.temporaryDirectory("records")
        _ = try Self.storage(script: Self.twoRecordings + Self.docks(2), records: records)
        let audit = records + "/BWV-0001/audit"
        let names = try FileManager.default.contentsOfDirectory(atPath: audit).sorted()
        let copies = names.compactMap { RecordsNames.AuditCopy.parse($0) }
        #expect(copies.count == 4 && copies.allSatisfy { $0.fingerprint != nil }, "\(names)")
        // The oldest copy as an older camera named it: one trail with the newer ones.
        let oldest = try #require(copies.min { $0.entries < $1.entries }).trail
        for c in [oldest, oldest.head] {
            try FileManager.default.moveItem(atPath: audit + "/" + c.file, toPath: audit + "/" + RecordsNames.AuditCopy(entries: c.entries, fingerprint: nil, isHead: c.isHead).file)
        }
        let mixed = try TestSupport.verifyRecords(records)
        #expect(mixed.status == 0, "\(mixed.stdout)")
        // All of them so.
        for c in copies where c.entries != oldest.entries {
            try FileManager.default.moveItem(atPath: audit + "/" + c.file, toPath: audit + "/" + RecordsNames.AuditCopy(entries: c.entries, fingerprint: nil, isHead: c.isHead).file)
        }
        let legacy = try TestSupport.verifyRecords(records)
        #expect(legacy.status == 0, "\(legacy.stdout)")
        #expect(legacy.lines.contains { $0.hasPrefix("ok") && $0.contains("/audit/") }, "\(legacy.stdout)")
    }

    // MARK: - Ids and time only move forward

    /// After a dock has offloaded and deleted the first recordings, the next ones get new ids, and both
    /// generations live side by side at the records; the second boot's clock starts after the first's.
    @Test func recordingIDsNeverRepeatAfterOffloadAndTheClockNeverGoesBack() throws {
        let records = TestSupport.temporaryDirectory("records")
        let storage = try Self.storage(script: Self.twoRecordings + "dock\nwait 10s\nexpect local_recordings 0\n", records: records)
        let second = try TestSupport.bodycam(["run", "--strict", "--storage", storage, "--records", records, "--offload-rate", "100000000"]
                                             + Self.options, stdin: Self.twoRecordings + "dock\nwait 10s\nquit\n")
        #expect(second.status == 0, "\(second.stderr)")
        let ids = second.events("recording").filter { $0["action"] as? String == "started" }.compactMap { $0["id"] as? String }
        #expect(ids == ["BWV-0001-000003", "BWV-0001-000004"])
        // One trail over both boots, its time never going back.
        let trail = try AuditTrail.parse(try FileBytes.contents(storage + "/state/audit.jsonl"))
        #expect(trail.lines.compactMap(\.entry.boot) == [1, 2])
        try trail.checkTimeOrder()
        let verify = try TestSupport.verifyRecords(records)
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(verify.lines.filter { $0.hasPrefix("ok    BWV-0001-00000") }.count == 4)
        // Both trail copies at the records: the older is the start of the newer one.
        #expect(try FileManager.default.contentsOfDirectory(atPath: records + "/BWV-0001/audit").filter { $0.hasSuffix(".jsonl") }.count == 2)
    }

    /// On the real clock a start time before the last recorded one is not taken.
    @Test func theRealClockNeverStartsBeforeTheLastRecordedTime() throws {
        let storage = try Self.storage()
        let out = try TestSupport.bodycam(["run", "--clock", "real", "--storage", storage, "--utc-start", "2020-01-01T00:00:00Z"]
                                          + Self.options, stdin: "quit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let utc = try #require(out.events("camera").first?["utc"] as? String)
        #expect(utc > "2026-01-01T08:00:10.000Z", "started at \(utc)")
        #expect(try TestSupport.verify(storage, trusting: storage).status == 0)
    }

    /// On the real clock the camera takes the machine's time by default (it used to start every run at the
    /// fixed 2026-01-01T08:00:00Z, so the trail went back in time at each start).
    @Test func theRealClockFollowsTheMachineByDefault() throws {
        let storage = TestSupport.temporaryDirectory()
        let before = Date()
        let out = try TestSupport.bodycam(["run", "--clock", "real", "--storage", storage] + Self.options, stdin: "quit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let text = try #require(out.events("camera").first?["utc"] as? String)
        let utc = try #require(UTC.parse(text))
        let machine = Int64(before.timeIntervalSince1970 * 1e9)
        #expect(abs(utc - machine) < 60 * Nanos.perSecond, "camera UTC \(UTC.iso(utc)), machine \(UTC.iso(machine))")
    }

    /// No make target deletes recordings.
    @Test func makeCleanKeepsTheStorage() throws {
        let makefile = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("Makefile"), encoding: .utf8)
        let rmLines = makefile.split(separator: "\n").filter { $0.contains("rm ") }
        #expect(!rmLines.isEmpty)
        #expect(rmLines.allSatisfy { !$0.contains("storage") }, "\(rmLines)")
    }
}
