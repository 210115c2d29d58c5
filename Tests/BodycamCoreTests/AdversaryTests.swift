import Crypto
import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Adversarial review (branch `adversary`): each test is a reproducer for a problem found on the current
/// code, and FAILS there. They describe what should happen; see the report for the fix suggested.
@Suite(.serialized)
struct AdversaryTests {
    static let options = ["--size", "160x120", "--prerecord", "2s"]
    static let twoRecordings = "wait 3s\ntrigger holster\nwait 2s\nhold record 3s\nwait 2s\ndouble record\nwait 1s\nhold record 3s\n"
    static let fm = FileManager.default

    static func storage(_ name: String = #function, script: String = twoRecordings, records: String? = nil,
                        extra: [String] = []) throws -> String {
        try TestSupport.deviceStorage(name, options: options + extra, script: script, records: records)
    }

    static func recordings(_ storage: String) -> String { storage + "/recordings" }
    static func id(_ n: Int) -> EvidenceNames.RecordingID { EvidenceNames.RecordingID(deviceID: "BWV-0001", number: n) }
    static func manifest(_ storage: String, _ n: Int) throws -> RecordingManifest {
        try SignedManifest.read(directory: recordings(storage), id: id(n)).manifest
    }
    static func removeRecording(_ dir: String, _ n: Int) throws {
        for name in try fm.contentsOfDirectory(atPath: dir) where name.contains(id(n).text) {
            try fm.removeItem(atPath: dir + "/" + name)
        }
    }

    // MARK: - 1. A forged recording signed by the genuine key (recovery of a recording never logged)

    /// Anyone who can write to `recordings/` drops a segment under a new recording id (here: footage from
    /// another camera that uses the same device id). The next boot (or `bodycam recover`) "recovers" it:
    /// it writes a manifest for it, signs it with the GENUINE device key and logs it; `verify` against the
    /// enrolled key then says "verified". The audit trail never logged that this recording was started.
    @Test func aPlantedSegmentUnderANewIDIsSignedByRecoveryAndVerifies() throws {
        let genuine = try Self.storage("genuine")
        let keys = try TestSupport.trustedKeys([genuine])
        let forger = try Self.storage("forger")
        let source = try Self.manifest(forger, 1).segments[0]
        let planted = EvidenceNames.Segment(startUTC: source.firstUTC, recording: Self.id(50), index: 1).fileName
        try Self.fm.copyItem(atPath: Self.recordings(forger) + "/" + source.file, toPath: Self.recordings(genuine) + "/" + planted)
        let recover = try TestSupport.bodycam(["recover", genuine])
        #expect(recover.status == 0, "\(recover.stderr)")
        // The camera never started recording 50: it does not sign it; the file is set aside, and reported.
        #expect(!Self.fm.fileExists(atPath: Self.recordings(genuine) + "/" + EvidenceNames.manifestName(Self.id(50))))
        #expect(recover.stdout.contains(planted) && recover.stdout.contains("no start of BWV-0001-000050"), "\(recover.stdout)")
        #expect(Quarantine(storage: genuine).contents.contains { $0.hasSuffix("_" + planted) })
        let out = try TestSupport.verify(genuine, keys: keys)
        #expect(!out.stdout.contains("ok    BWV-0001-000050"), "a recording the camera never made verifies as the camera's:\n\(out.stdout)")
    }

    // MARK: - 2. Lines after the signed head are trusted as facts

    /// After a clean shutdown, delete recording 2 and append one chained (unsigned) line saying it was
    /// offloaded: `verify` of the storage says "verified"; the next boot even signs that line.
    @Test func aForgedOffloadedEntryAfterTheSignedHeadExcusesADeletedRecording() throws {
        let storage = try Self.storage()
        let keys = try TestSupport.trustedKeys([storage])
        try Self.removeRecording(Self.recordings(storage), 2)
        let path = storage + "/state/audit.jsonl"
        let trail = try AuditTrail.parse(try FileBytes.contents(path))
        let last = try #require(trail.lines.last)
        let line = "{\"seq\":\(trail.lines.count + 1),\"utc\":\"\(UTC.iso(last.utc))\",\"t\":99,\"event\":\"offloaded\","
            + "\"recording\":\"BWV-0001-000002\",\"target\":\"/records\",\"prev\":\"\(last.sha256)\"}\n"
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.seekToEnd()
        try h.write(contentsOf: Data(line.utf8))
        try h.close()
        let out = try TestSupport.verify(storage, keys: keys)
        #expect(out.status == 1, "a deleted recording verifies:\n\(out.stdout)")
    }

    /// Delete recording 2, then damage the trail on purpose (here: remove its signed head). The next boot
    /// quarantines the trail and starts a new one, which logs the manifests still present as if they were
    /// all there ever was: `verify` of the storage says "verified", and recording 2 is forgotten.
    @Test func damagingTheTrailOnPurposeMakesTheCameraForgetADeletedRecording() throws {
        let storage = try Self.storage()
        let keys = try TestSupport.trustedKeys([storage])
        try Self.removeRecording(Self.recordings(storage), 2)
        try Self.fm.removeItem(atPath: storage + "/state/audit-head.json")
        let boot = try TestSupport.bodycam(["run", "--storage", storage] + Self.options, stdin: "quit\n")
        #expect(boot.status == 0, "\(boot.stderr)")
        let out = try TestSupport.verify(storage, keys: keys)
        #expect(out.status == 1, "a storage whose trail was replaced at boot, a recording deleted, verifies:\n\(out.stdout)")
    }

    // MARK: - 3. Verify does not require the audit trail

    /// At central records: delete a recording's folder AND the device's audit copies: "verified".
    @Test func deletingTheAuditCopiesAtTheRecordsHidesADeletedRecording() throws {
        let records = TestSupport.temporaryDirectory("records")
        _ = try Self.storage(script: Self.twoRecordings + "dock\nwait 10s\n", records: records)
        #expect(try TestSupport.verifyRecords(records).status == 0)
        try Self.fm.removeItem(atPath: records + "/BWV-0001/BWV-0001-000002")
        #expect(try TestSupport.verifyRecords(records).status == 1) // caught by the trail...
        try Self.fm.removeItem(atPath: records + "/BWV-0001/audit")
        let out = try TestSupport.verifyRecords(records)
        #expect(out.status == 1, "...but not once the trail is gone too:\n\(out.stdout)")
    }

    /// On a device: delete a recording AND the whole `state/` folder: "verified".
    @Test func deletingTheStateFolderHidesADeletedRecording() throws {
        let storage = try Self.storage()
        let keys = try TestSupport.trustedKeys([storage])
        try Self.removeRecording(Self.recordings(storage), 2)
        #expect(try TestSupport.verify(storage, keys: keys).status == 1)
        try Self.fm.removeItem(atPath: storage + "/state")
        let out = try TestSupport.verify(storage, keys: keys)
        #expect(out.status == 1, "a storage without its audit trail, a recording deleted, verifies:\n\(out.stdout)")
    }

    // MARK: - 4. Unauthenticated file names set the clock and the recording counter

    /// A copy of any segment renamed to start in 2030 (its content is genuine, so recovery keeps it): the
    /// camera takes the name as "the last recorded time" and stamps everything from then on in 2030.
    @Test func aPlantedFileNameMovesTheClockForward() throws {
        let storage = try Self.storage()
        let source = try Self.manifest(storage, 1).segments[0]
        let planted = EvidenceNames.Segment(startUTC: try #require(UTC.parse("2030-01-01T00:00:00Z")),
                                            recording: Self.id(60), index: 1).fileName
        try Self.fm.copyItem(atPath: Self.recordings(storage) + "/" + source.file, toPath: Self.recordings(storage) + "/" + planted)
        let out = try TestSupport.bodycam(["run", "--storage", storage] + Self.options, stdin: "quit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let utc = try #require(out.events("camera").first?["utc"] as? String)
        #expect(utc < "2027", "the camera's clock was set to \(utc) by a file name")
    }

    /// Past the range UTC accepts (2261-12-31): everything the camera writes from then on fails its own
    /// verify (times that do not parse).
    @Test func aPlantedFileNameNearTheEndOfTimeMakesEveryLaterRecordingUnverifiable() throws {
        let storage = try Self.storage()
        let keys = try TestSupport.trustedKeys([storage])
        let source = try Self.manifest(storage, 1).segments[0]
        let planted = EvidenceNames.Segment(startUTC: try #require(UTC.parse("2261-12-31T23:59:59.000Z")),
                                            recording: Self.id(60), index: 1).fileName
        try Self.fm.copyItem(atPath: Self.recordings(storage) + "/" + source.file, toPath: Self.recordings(storage) + "/" + planted)
        let out = try TestSupport.bodycam(["run", "--storage", storage] + Self.options, stdin: Self.twoRecordings + "quit\n")
        #expect(out.status == 0, "\(out.stderr)")
        // The planted name moves nothing: the clock and the ids come from signed data only.
        let utc = try #require(out.events("camera").first?["utc"] as? String)
        #expect(utc < "2027", "the camera's clock was set to \(utc) by a file name")
        let ids = out.events("recording").filter { $0["action"] as? String == "started" }.compactMap { $0["id"] as? String }
        #expect(ids == [Self.id(3).text, Self.id(4).text])
        let verify = try TestSupport.verify(storage, keys: keys)
        #expect(verify.status == 0, "recordings made after the planted file do not verify:\n\(verify.stdout)")
    }

    /// A file named for recording 999999999 (garbage content; it is quarantined) pushes the counter to
    /// 1000000000: every later recording gets a 10-digit id that no parser accepts, so its manifest does
    /// not verify, it is never offloaded, and the next boot quarantines it. For good: the quarantine keeps
    /// the name, so the counter never comes back.
    @Test func aPlantedFileNameExhaustsTheRecordingIDs() throws {
        let storage = try Self.storage()
        let keys = try TestSupport.trustedKeys([storage])
        let planted = EvidenceNames.Segment(startUTC: try #require(UTC.parse("2026-01-01T08:00:00Z")),
                                            recording: Self.id(999_999_999), index: 1).fileName
        try Data("junk".utf8).write(to: URL(fileURLWithPath: Self.recordings(storage) + "/" + planted))
        let out = try TestSupport.bodycam(["run", "--storage", storage] + Self.options, stdin: Self.twoRecordings + "quit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let ids = out.events("recording").filter { $0["action"] as? String == "started" }.compactMap { $0["id"] as? String }
        #expect(ids.allSatisfy { EvidenceNames.RecordingID.parse($0) != nil }, "ids handed out: \(ids)")
        let verify = try TestSupport.verify(Self.recordings(storage), keys: keys)
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    // MARK: - 5. The camera traps at boot

    /// counters.json with a boot count the parser accepts (Int.max): `max(...) + 1` overflows, every boot
    /// traps. The same comes from an unsigned `boot` line appended to the trail.
    @Test func aHugeBootCounterTrapsTheCameraAtEveryBoot() throws {
        let storage = try Self.storage(script: "")
        try FileBytes.writeDurably(storage + "/state/counters.json", DeviceCounters(boots: Int.max, nextRecording: 1).bytes)
        let out = try TestSupport.bodycam(["run", "--storage", storage] + Self.options, stdin: "quit\n")
        #expect(out.status == 0, "boot with a huge boot counter: exit \(out.status)\n\(out.stderr.suffix(400))")
    }

    /// Names the camera uses for itself, occupied by something of the wrong kind: the boot fails (exit 2)
    /// instead of quarantining what is in the way. `lock` a folder; `quarantine` a file (with something to
    /// quarantine); `state/counters.json` a folder; `state/counters.json.tmp` a folder.
    @Test(arguments: ["lock-folder", "quarantine-file", "counters-folder", "counters-tmp-folder"])
    func aNameOfTheWrongKindStopsTheBoot(kind: String) throws {
        let storage = try Self.storage("wrongkind-\(kind)", script: "")
        switch kind {
        case "lock-folder":
            try Self.fm.removeItem(atPath: storage + "/lock")
            try Self.fm.createDirectory(atPath: storage + "/lock", withIntermediateDirectories: false)
        case "quarantine-file":
            try Data("x".utf8).write(to: URL(fileURLWithPath: storage + "/quarantine"))
            try Data("x".utf8).write(to: URL(fileURLWithPath: Self.recordings(storage) + "/notes.txt"))
        case "counters-folder":
            try Self.fm.removeItem(atPath: storage + "/state/counters.json")
            try Self.fm.createDirectory(atPath: storage + "/state/counters.json", withIntermediateDirectories: false)
        default:
            try Self.fm.createDirectory(atPath: storage + "/state/counters.json.tmp", withIntermediateDirectories: false)
        }
        let out = try TestSupport.bodycam(["run", "--storage", storage] + Self.options, stdin: "quit\n")
        #expect(out.status == 0, "\(kind): exit \(out.status): \(out.stderr)")
    }

    /// `quarantine` a symbolic link to a folder elsewhere: the boot moves evidence it quarantines (here a
    /// damaged manifest and its genuine signature) OUT of the storage through the link.
    @Test func aQuarantineLinkMovesEvidenceOutOfTheStorage() throws {
        let storage = try Self.storage()
        let outside = TestSupport.temporaryDirectory("outside")
        try Self.fm.createSymbolicLink(atPath: storage + "/quarantine", withDestinationPath: outside)
        try Data("x".utf8).write(to: URL(fileURLWithPath: Self.recordings(storage) + "/BWV-0001-000001.manifest.json"))
        let out = try TestSupport.bodycam(["run", "--storage", storage] + Self.options, stdin: "quit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let moved = try Self.fm.contentsOfDirectory(atPath: outside)
        #expect(moved.isEmpty, "moved out of the storage: \(moved)")
    }

    // MARK: - 6. One damaged segment stops every later offload

    /// A bit flipped in recording 1 (storage damage): the dock fails the whole session at that file, so
    /// recording 2 and the audit trail never reach the records, at this dock or any later one.
    @Test func oneDamagedSegmentBlocksEveryLaterRecordingFromTheRecords() throws {
        let storage = try Self.storage()
        let segment = Self.recordings(storage) + "/" + (try Self.manifest(storage, 1).segments[0].file)
        let avi = try AVIReader.read(path: segment)
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: segment))
        try h.seek(toOffset: UInt64(avi.frames[0].upperBound - 40))
        try h.write(contentsOf: [0x55])
        try h.close()
        let records = TestSupport.temporaryDirectory("records")
        let out = try TestSupport.bodycam(["run", "--storage", storage, "--records", records, "--offload-rate", "100000000"]
                                          + Self.options, stdin: "dock\nwait 10s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        #expect(Self.fm.fileExists(atPath: records + "/BWV-0001/BWV-0001-000002/BWV-0001-000002.manifest.json"),
                "the intact recording 2 was not offloaded: \(out.events("offload").last ?? [:])")
        #expect(((try? Self.fm.contentsOfDirectory(atPath: records + "/BWV-0001/audit")) ?? []).count == 2, "the trail was not delivered")
    }
}
