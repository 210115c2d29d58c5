import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Nothing on the storage stops the camera booting: what it cannot use is quarantined and reported;
/// one process per storage.
@Suite(.serialized)
struct BootTests {
    static let options = ["--size", "160x120", "--prerecord", "1s"]

    static func storage(_ name: String = #function) throws -> String {
        let storage = TestSupport.temporaryDirectory(name)
        let out = try TestSupport.bodycam(["run", "--strict", "--storage", storage] + options,
                                          stdin: "wait 2s\ntrigger holster\nwait 2s\nhold record 3s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        return storage
    }

    static func boot(_ storage: String, _ script: String = "quit\n") throws -> TestSupport.Output {
        try TestSupport.bodycam(["run", "--storage", storage] + options, stdin: script)
    }

    /// "2026" turned into "3026" in one `utc` of the trail trapped every later boot (exit 132).
    @Test func aYearBeyondInt64InTheAuditTrailQuarantinesTheTrailAndBoots() throws {
        let storage = try Self.storage()
        let path = storage + "/state/audit.jsonl"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let r = try #require(text.range(of: "\"utc\":\"2026"))
        try text.replacingCharacters(in: r, with: "\"utc\":\"3026").write(toFile: path, atomically: true, encoding: .utf8)
        let out = try Self.boot(storage, "wait 2s\ntrigger holster\nwait 2s\nhold record 3s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let alert = try #require(out.events("alert").first { $0["kind"] as? String == "quarantine" })
        #expect((alert["message"] as? String ?? "").contains("audit trail"))
        let quarantined = Quarantine(storage: storage).contents
        #expect(quarantined.contains { $0.hasSuffix("_audit.jsonl") }, "\(quarantined)")
        // The new trail starts by naming the one it replaced, and the new recording is there.
        let first = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first ?? ""
        #expect(first.contains("\"event\":\"audit-quarantined\""))
        #expect(out.events("recording").contains { $0["action"] as? String == "finalized" && $0["id"] as? String == "BWV-0001-000002" })
    }

    /// One flipped bit in a `.avi.part` header trapped every later boot: now the file is quarantined.
    @Test func anUnfinishedSegmentWithADamagedHeaderIsQuarantined() throws {
        let storage = try Self.storage()
        let segment = try #require(TestSupport.segments(in: storage).first)
        // A crash leaves a .part with a damaged header: break the RIFF magic.
        let part = segment.replacingOccurrences(of: "_001.avi", with: "_002.avi") + ".part"
        var bytes = try FileBytes.contents(segment)
        bytes[0] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: part))
        let out = try Self.boot(storage)
        #expect(out.status == 0, "\(out.stderr)")
        let q = try #require(out.events("recovery").first?["quarantined"] as? [[String: Any]])
        #expect(q.count == 1 && (q[0]["file"] as? String) == URL(fileURLWithPath: part).lastPathComponent, "\(q)")
        #expect(!FileManager.default.fileExists(atPath: part))
        #expect(Quarantine(storage: storage).contents.count == 1)
    }

    /// A cut after the final header was written and before the rename left a complete file named `.part`:
    /// recovery took it for damage and the camera would not boot. Now it is recognised and renamed as is.
    @Test func aCompleteSegmentStillNamedPartIsRenamedUntouched() throws {
        let storage = try Self.storage()
        let segment = try #require(TestSupport.segments(in: storage).first)
        let digest = try #require(FileBytes.sha256(segment))
        try FileManager.default.moveItem(atPath: segment, toPath: segment + ".part")
        let out = try Self.boot(storage)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(FileBytes.sha256(segment) == digest)
        #expect(try TestSupport.verify(storage, trusting: storage).status == 0)
    }

    /// Anything in the recordings folder the camera did not write, and links, are moved aside, not followed.
    @Test func strangeFilesAndLinksInTheRecordingsFolderAreQuarantined() throws {
        let storage = try Self.storage()
        let recordings = storage + "/recordings"
        try "x".write(toFile: recordings + "/notes.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: recordings + "/20260101T090000.000Z_BWV-0001-000009_001.avi.part",
                                                   withDestinationPath: "/etc/passwd")
        let out = try Self.boot(storage)
        #expect(out.status == 0, "\(out.stderr)")
        let q = try #require(out.events("recovery").first?["quarantined"] as? [[String: Any]])
        #expect(Set(q.compactMap { $0["file"] as? String }) == ["notes.txt", "20260101T090000.000Z_BWV-0001-000009_001.avi.part"])
        #expect(FileManager.default.fileExists(atPath: "/etc/passwd"))
        // A planted name moves no counter (ids come from the signed trail and kept recordings only).
        let next = try Self.boot(storage, "wait 2s\ntrigger holster\nwait 2s\nhold record 3s\nquit\n")
        #expect(next.events("recording").first { $0["action"] as? String == "started" }?["id"] as? String == "BWV-0001-000002")
    }

    /// A damaged device key: quarantined, a new key made (the camera must be enrolled again), and it boots.
    @Test func aDamagedKeyIsReplacedAndTheCameraBoots() throws {
        let storage = try Self.storage()
        try "not a key".write(toFile: storage + "/state/device.key", atomically: true, encoding: .utf8)
        let out = try Self.boot(storage)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.events("alert").contains { $0["kind"] as? String == "identity-replaced" })
        #expect(Quarantine(storage: storage).contents.contains { $0.hasSuffix("_device.key") })
    }

    /// Two cameras on one storage: the second gets one clear line and exit 2; so does `recover`.
    @Test func aSecondProcessOnTheSameStorageIsRefused() throws {
        let storage = try Self.storage()
        let fifo = TestSupport.temporaryDirectory("fifo") + "/in"
        #expect(mkfifo(fifo, 0o600) == 0)
        let first = Process()
        first.executableURL = URL(fileURLWithPath: TestSupport.binary)
        first.arguments = ["run", "--storage", storage, "--script", fifo] + Self.options
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        // Holding the fifo open keeps the first camera waiting for its script.
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: fifo))
        defer {
            try? writer.write(contentsOf: Data("quit\n".utf8))
            try? writer.close()
            first.waitUntilExit()
        }
        var second = TestSupport.Output(status: 0, stdout: "", stderr: "")
        for _ in 0..<100 { // until the first holds the lock
            second = try Self.boot(storage)
            if second.status != 0 { break }
            usleep(50_000)
        }
        #expect(second.status == 2)
        #expect(second.stderr.contains("is in use by another bodycam process"), "\(second.stderr)")
        #expect(second.stderr.split(separator: "\n").count == 1)
        let recover = try TestSupport.bodycam(["recover", storage])
        #expect(recover.status == 2 && recover.stderr.contains("in use"), "\(recover.stderr)")
    }
}
