import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Docking: the camera offloads to central records, verified at the destination, resumably, and
/// deletes nothing it has not seen verified there.
@Suite(.serialized)
struct OffloadTests {
    /// Two recordings, then whatever `then` does (dock, undock...).
    static let twoRecordings = "wait 5s\ntrigger holster\nwait 5s\nhold record 3s\nwait 5s\ndouble record\nwait 2s\nhold record 3s\n"

    static func run(_ then: String, records: String, extra: [String] = []) throws -> (TestSupport.Output, String) {
        let storage = TestSupport.temporaryDirectory("offload")
        let out = try TestSupport.bodycam(["run", "--strict", "--size", "160x120", "--storage", storage, "--records", records,
                                           "--offload-rate", "400000"] + extra, stdin: twoRecordings + then + "quit\n")
        return (out, storage)
    }

    static func offloadEvents(_ out: TestSupport.Output, _ action: String) -> [[String: Any]] {
        out.events("offload").filter { $0["action"] as? String == action }
    }

    @Test func dockingOffloadsEverythingVerifiedAndDeletesLocalCopiesAfterwards() throws {
        let records = TestSupport.temporaryDirectory("records")
        let (out, storage) = try Self.run("dock\nexpect offloading true\nwait 30s\nexpect offloading false\nexpect local_recordings 0\n",
                                          records: records, extra: ["--dock-clock-offset=-1.5s"])
        defer { for d in [records, storage] { try? FileManager.default.removeItem(atPath: d) } }
        #expect(out.status == 0, "\(out.stderr)\n\(out.events("expect"))")
        #expect(Self.offloadEvents(out, "recording-offloaded").count == 2)
        #expect(Self.offloadEvents(out, "complete").count == 1)
        let clock = try #require(out.events("clock").first)
        #expect(clock["correction_s"] as? Double == -1.5)
        // Everything at the destination verifies, including the audit trail that travelled with it.
        let verify = try TestSupport.verifyRecords(records)
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(verify.lines.filter { $0.hasPrefix("ok") }.count == 3)
        #expect(TestSupport.segments(in: storage).isEmpty)
        // Nothing half-copied is left under a real name or as a temporary file.
        let leftovers = Verifier.files(under: records, depth: 4).filter { $0.hasSuffix(".incoming") }
        #expect(leftovers.isEmpty)
    }

    @Test func afterADockClockCorrectionEveryEventUsesTheCorrectedClock() throws {
        let records = TestSupport.temporaryDirectory("records")
        let (out, storage) = try Self.run("dock\nwait 30s\nundock\nwait 2s\ntrigger holster\nwait 4s\nhold record 3s\nwait 2s\n",
                                          records: records, extra: ["--dock-clock-offset=-1.5s"])
        defer { for d in [records, storage] { try? FileManager.default.removeItem(atPath: d) } }
        #expect(out.status == 0, "\(out.stderr)\n\(out.events("expect"))")
        // utc - t of an event, in milliseconds: the camera's UTC at camera time zero as that event saw it.
        func zero(_ e: [String: Any]) -> Int64? {
            guard let text = e["utc"] as? String, let utc = UTC.parse(text), let t = e["t"] as? Double else { return nil }
            return utc / 1_000_000 - Int64((t * 1000).rounded())
        }
        let events = out.events
        let sync = try #require(out.events("clock").first?["t"] as? Double)
        // An event's time is its frame's or its moment's: writer events about frames captured before the
        // correction keep the old clock even when they are printed after it.
        let before = events.filter { ($0["t"] as? Double ?? sync) < sync }.compactMap(zero)
        let after = events.filter { ($0["t"] as? Double ?? sync) > sync }
        #expect(after.contains { $0["event"] as? String == "segment" } && after.contains { $0["event"] as? String == "manifest" })
        let corrected = after.compactMap(zero)
        #expect(before.max()! - before.min()! <= 1 && corrected.max()! - corrected.min()! <= 1, "\(Set(before)) \(Set(corrected))")
        #expect(abs(corrected.min()! - before.min()! + 1500) <= 1)
    }

    @Test func undockingMidTransferLosesNothingAndTheNextDockResumes() throws {
        let records = TestSupport.temporaryDirectory("records")
        // At 400 kB/s the first recording (about 2.5 MB) takes several seconds: undock after 2 s.
        let (out, storage) = try Self.run("dock\nwait 2s\nundock\nexpect local_recordings 2\nwait 1s\ndock\nwait 1m\nexpect local_recordings 0\nundock\n",
                                          records: records)
        defer { for d in [records, storage] { try? FileManager.default.removeItem(atPath: d) } }
        #expect(out.status == 0, "\(out.stderr)\n\(out.events("expect"))")
        #expect(Self.offloadEvents(out, "interrupted").count == 1)
        // Every file arrived exactly once (the interrupted one was restarted, not duplicated).
        let verified = Self.offloadEvents(out, "file-verified").compactMap { e -> String? in
            e["recording"] is String ? e["file"] as? String : nil
        }
        #expect(verified.count == 6 && Set(verified).count == 6)
        let verify = try TestSupport.verifyRecords(records)
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    @Test func unwritableRecordsRaiseAnAlertAndKeepTheLocalCopies() throws {
        let blocker = TestSupport.temporaryDirectory("blocker") + "/a-file"
        try "not a folder".write(toFile: blocker, atomically: true, encoding: .utf8)
        let (out, storage) = try Self.run("dock\nwait 10s\nexpect local_recordings 2\n", records: blocker + "/records")
        defer { try? FileManager.default.removeItem(atPath: storage) }
        #expect(out.status == 0, "\(out.stderr)\n\(out.events("expect"))")
        #expect(out.events("alert").contains { $0["kind"] as? String == "records-unavailable" })
        #expect(Self.offloadEvents(out, "failed").count == 1)
        #expect(TestSupport.segments(in: storage).count == 2)
        #expect(try TestSupport.verify(storage, trusting: storage).status == 0)
    }

    @Test(.enabled(if: ScenarioTests.canMount, "needs root to mount a small tmpfs"))
    func fullRecordsRaiseAnAlertAndKeepTheLocalCopies() throws {
        let records = TestSupport.temporaryDirectory("full-records")
        #expect(try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", records]).status == 0)
        defer { _ = try? TestSupport.run("/bin/umount", [records]) }
        let (out, storage) = try Self.run("dock\nwait 30s\nexpect local_recordings 2\n", records: records)
        defer { try? FileManager.default.removeItem(atPath: storage) }
        #expect(out.status == 0, "\(out.stderr)\n\(out.events("expect"))")
        let failed = try #require(Self.offloadEvents(out, "failed").first)
        #expect((failed["message"] as? String ?? "").contains("No space left"))
        #expect(out.events("alert").contains { $0["kind"] as? String == "records-unavailable" })
        #expect(TestSupport.segments(in: storage).count == 2)
        let leftovers = Verifier.files(under: records, depth: 4).filter { $0.hasSuffix(".incoming") || $0.hasSuffix(".avi") }
        #expect(leftovers.isEmpty)
    }
}
