import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// The scenario scripts in Fixtures/scenarios, run end to end with `--strict` (so every `expect` in them
/// must hold), then checked on the event stream and on the files with ffprobe/ffmpeg.
@Suite(.serialized)
struct ScenarioTests {
    static let fixtures = TestSupport.packageRoot.appendingPathComponent("Fixtures/scenarios")

    struct Run {
        var out: TestSupport.Output
        var storage: String
        /// Central records (a scenario that docks offloads there).
        var records: String { storage + "-records" }
        /// Segments still on the camera and those offloaded to central records.
        var segments: [String] {
            TestSupport.segments(in: storage) + Verifier.files(under: records, depth: 3).filter { $0.hasSuffix(".avi") }.sorted()
        }

        func events(_ type: String, _ filter: (String, String)? = nil) -> [[String: Any]] {
            out.events(type).filter { e in filter.map { e[$0.0] as? String == $0.1 } ?? true }
        }
        var finalized: [[String: Any]] { events("recording", ("action", "finalized")) }
        func alerts(_ kind: String) -> Int { events("alert", ("kind", kind)).count }

        /// Stamps of every frame of one recording, in order.
        func stamps(recording id: String) throws -> [FrameStamp] {
            try TestSupport.stamps(segments.filter { $0.contains("_\(id)_") })
        }

        /// Every segment opens in ffprobe with the expected format and decodes cleanly.
        func checkAllSegments(width: Int = 160, height: Int = 120, fps: Int = 30) throws {
            for path in segments { _ = try TestSupport.checkSegment(path, width: width, height: height, fps: fps) }
        }
    }

    static func run(_ scenario: String, _ extra: [String] = [], stdin: String? = nil) throws -> Run {
        let storage = TestSupport.temporaryDirectory(scenario)
        var args = ["run", "--strict", "--size", "160x120", "--storage", storage, "--records", storage + "-records"] + extra
        if stdin == nil { args += ["--script", fixtures.appendingPathComponent(scenario + ".script").path] }
        let out = try TestSupport.bodycam(args, stdin: stdin)
        // Every `expect` line ran and held (counted too: a check over no events passes vacuously).
        let script = try stdin ?? String(contentsOf: fixtures.appendingPathComponent(scenario + ".script"), encoding: .utf8)
        let expectLines = script.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("expect ") }.count
        #expect(out.events("expect").count == expectLines, "\(scenario): expect events")
        #expect(out.events("expect").allSatisfy { $0["ok"] as? Bool == true }, "\(scenario): failed expect")
        #expect(out.status == 0, "\(scenario): exit \(out.status)\n\(out.stderr)\n\(out.events("expect").filter { $0["ok"] as? Bool == false })\n\(out.events("error"))")
        return Run(out: out, storage: storage)
    }

    static func seconds(_ e: [String: Any]) -> Double { e["t"] as? Double ?? -1 }

    /// Virtual clock: the same script prints the same events in the same order and writes the same audit
    /// trail, writer events (segments, manifests, finalized recordings) and stats included.
    @Test func theSameScriptGivesTheSameEventsAndAuditTrailEveryRun() throws {
        var outputs: Set<String> = [], trails: Set<String> = []
        for _ in 0..<4 {
            let r = try Self.run("stealth-and-faults", ["--segment-duration", "3s", "--stats-every", "5s", "--storage-capacity", "1000000000"])
            defer { try? FileManager.default.removeItem(atPath: r.storage) }
            // Only where the files are, and the process's resident size, may differ.
            outputs.insert(r.out.stdout.replacingOccurrences(of: r.storage, with: "STORAGE")
                .replacing(/"rss_bytes":\d+/, with: ""))
            // The trail's hashes depend on the device key, new each run: compare its entries.
            let audit = try String(contentsOfFile: r.storage + "/state/audit.jsonl", encoding: .utf8)
            trails.insert(audit.split(separator: "\n").map { $0.replacing(/"(prev|public_key|signature|sig)":"[^"]+"/, with: "") }
                .joined(separator: "\n"))
        }
        #expect(outputs.count == 1 && trails.count == 1)
        #expect(outputs.first!.contains("\"event\":\"segment\"") && outputs.first!.contains("\"finalized\""))
    }

    @Test func prerecordAndStop() throws {
        let r = try Self.run("prerecord-and-stop")
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        let started = try #require(r.events("recording", ("action", "started")).first)
        #expect(started["prerecord_frames"] as? Int == 900 && Self.seconds(started) == 42.2)
        let stopped = try #require(r.events("recording", ("action", "stopped")).first)
        #expect(Self.seconds(stopped) == 53.3) // marker press to 47.4 s, 2.9 s hold to 50.3 s, then 3 s
        try r.checkAllSegments()
        let stamps = try r.stamps(recording: "BWV-0001-000001")
        #expect(stamps.first?.mono == 12_200 * Nanos.perMillisecond) // 30 s before the press
        #expect(stamps.count == 1233) // 12.2 s to 53.3 s at 30 fps
        #expect(r.events("marker").count == 1)
        #expect(r.finalized.first?["complete"] as? Bool == true)
    }

    @Test func sleepIgnoresTriggers() throws {
        let r = try Self.run("sleep-ignores-triggers")
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        let ignored = r.events("trigger", ("action", "ignored"))
        #expect(ignored.map { $0["source"] as? String } == ["holster", "taser"])
        #expect(r.events("feedback", ("kind", "sleep-reminder")).count == 2)
        let wake = try #require(r.events("state", ("from", "sleep")).first)
        try r.checkAllSegments()
        let stamps = try r.stamps(recording: "BWV-0001-000001")
        // The pre-record buffer was emptied in sleep: the recording starts at the wake-up.
        let first = try #require(stamps.first)
        #expect(Double(first.mono) / 1e9 >= Self.seconds(wake))
        #expect(Double(first.mono) / 1e9 < Self.seconds(wake) + 0.1)
    }

    @Test func batteryCutOffFinalizesAPlayableRecording() throws {
        let r = try Self.run("battery-cutoff", ["--battery", "7"])
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        #expect(r.alerts("battery-low") == 2) // 10 % (at once) and 5 %
        #expect(r.alerts("battery-too-low") == 1)
        #expect(r.events("state", ("cause", "battery-cutoff")).count == 1)
        let stopped = try #require(r.events("recording", ("action", "stopped")).first)
        #expect(stopped["cause"] as? String == "battery-cutoff")
        #expect(r.finalized.count == 1 && r.finalized[0]["complete"] as? Bool == true)
        try r.checkAllSegments()
        // The recording was offloaded when the camera was docked: it is checked at central records.
        let stamps = try r.stamps(recording: "BWV-0001-000001")
        let first = try #require(stamps.first?.sequence)
        #expect(stamps.map(\.sequence) == Array(first..<(first + UInt64(stamps.count))))
        #expect(Double(try #require(stamps.last).mono) / 1e9 < Self.seconds(stopped))
        #expect(try TestSupport.verifyRecords(r.records).status == 0)
    }

    @Test func diskFullRefusesRecording() throws {
        let r = try Self.run("disk-full")
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        #expect(r.alerts("storage-full") == 3) // the fault, the refused double press, the refused trigger
        #expect(r.finalized.count == 2)
        #expect(r.finalized.allSatisfy { $0["complete"] as? Bool == true && $0["dropped_frames"] as? Int == 0 })
        #expect(r.events("recording", ("action", "stopped")).first?["cause"] as? String == "storage-full")
        try r.checkAllSegments()
        #expect(r.segments.count == 2)
    }

    @Test func stealthAndFaults() throws {
        let r = try Self.run("stealth-and-faults")
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        let start = r.events("feedback", ("kind", "record-start"))
        #expect(start.map { $0["suppressed"] as? Bool } == [true, true])
        // Between stealth on and stealth off, every LED change is suppressed.
        let toggles = r.events("stealth").map(Self.seconds)
        try #require(toggles.count == 2)
        let inStealth = r.events("led").filter { Self.seconds($0) > toggles[0] && Self.seconds($0) < toggles[1] }
        #expect(!inStealth.isEmpty && inStealth.allSatisfy { $0["suppressed"] as? Bool == true })
        #expect(r.alerts("camera-lost") == 2 && r.alerts("camera-back") == 1)
        #expect(r.out.events("stats").last?["dropped_damaged"] as? Int == 5)
        #expect(r.finalized.count == 2)
        try r.checkAllSegments()
        // The damaged frames are missing from the first recording: its sequence numbers are continuous
        // (the camera numbers stored frames), and its stamps' times show the 5-frame hole.
        let stamps = try r.stamps(recording: "BWV-0001-000001")
        let gaps = zip(stamps, stamps.dropFirst()).filter { $1.mono - $0.mono > Nanos.perSecond / 20 }
        #expect(gaps.count == 1 && abs(gaps[0].1.mono - gaps[0].0.mono - 6 * Nanos.perSecond / 30) <= 1)
    }

    /// How long the shift takes in wall time is a benchmark figure (`make bench`), not a test.
    @Test func aTwelveHourShiftRecordsFiveTimesAndDocks() throws {
        let r = try Self.run("shift", ["--fps", "5", "--stats-every", "1h"])
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        #expect(r.finalized.count == 5)
        #expect(r.finalized.allSatisfy { $0["complete"] as? Bool == true && $0["dropped_frames"] as? Int == 0 })
        #expect(r.events("dock").first?["docked"] as? Bool == true)
        #expect(Self.seconds(r.events("dock").first!) > 11.5 * 3600) // docked at the end of a 12 h shift
        try r.checkAllSegments(fps: 5)
        #expect(r.out.events("stats").last?["frames_captured"] as? Int ?? 0 > 190_000) // 12 h at 5 fps, less sleep and dock
    }

    @Test func storageCapacityRunsOutDuringARecording() throws {
        // 160x120 frames are about 7 KB: 20 MB holds about 90 s at 30 fps, 10 s segments need 2 MB free.
        let r = try Self.run("storage-capacity", ["--storage-capacity", "20000000", "--segment-duration", "10s"],
                             stdin: "wait 5s\ntrigger holster\nwait 5m\nexpect state ready\ndouble record\nexpect state ready\nquit\n")
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        #expect(r.events("recording", ("action", "stopped")).first?["cause"] as? String == "storage-full")
        #expect(r.alerts("storage-full") == 2)
        try r.checkAllSegments()
        let total = try r.segments.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: $1)[.size] as! Int) }
        #expect(total <= 20_000_000 && total > 17_000_000)
    }

    @Test func garbageOnStdinNeverCrashesOrLosesARecording() throws {
        var rng = SplitMix64(seed: 99)
        var garbage = ""
        var badLines = 0
        for _ in 0..<40 {
            let bytes = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }.filter { $0 != 10 && $0 != 35 }
            garbage += String(decoding: bytes, as: UTF8.self) + "\n"
            badLines += bytes.allSatisfy { $0 == 32 || $0 == 9 || $0 == 13 } ? 0 : 1
        }
        let unknown = ["frobnicate", "press", "press elbow", "hold record", "hold record forever", "wait -5s",
                       "wait 100000h", "battery 250", "battery -1", "fault meteor", "fault corrupt-frames 0",
                       "trigger", "trigger sneeze", "expect", "expect nosuchfield 3", "up record", "undock",
                       String(repeating: "x", count: 5000), "double record extra"]
        let script = "wait 5s\ntrigger holster\nwait 1s\n" + garbage + unknown.joined(separator: "\n")
            + "\nwait 2s\nhold record 3s\nquit\n"
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let out = try TestSupport.bodycam(["run", "--size", "160x120", "--storage", storage], stdin: script)
        #expect(out.status == 0, "\(out.stderr)")
        let errors = out.events("error").filter { $0["source"] as? String == "script" }
        #expect(errors.count == badLines + unknown.count)
        #expect(errors.allSatisfy { ($0["line"] as? Int ?? 0) > 3 && !($0["message"] as? String ?? "").isEmpty })
        let finalized = out.events("recording").filter { $0["action"] as? String == "finalized" }
        #expect(finalized.count == 1 && finalized[0]["complete"] as? Bool == true)
        let segments = TestSupport.segments(in: storage)
        #expect(segments.count == 1)
        let avi = try TestSupport.checkSegment(segments[0], width: 160, height: 120, fps: 30)
        #expect(avi.frames.count == 30 * (3 + 1 + 2 + 3)) // 3 s pre-record, then until the hold stops it
        // With --strict the same script makes the exit status fail, after finalizing the files.
        let strict = try TestSupport.bodycam(["run", "--strict", "--size", "160x120", "--storage", storage + "/strict"], stdin: script)
        #expect(strict.status == 1)
        #expect(TestSupport.segments(in: storage + "/strict").count == 1)
    }

    @Test func aRecordingPastTheMaximumLengthContinuesSeamlesslyInANewOne() throws {
        let r = try Self.run("max-length", ["--max-recording", "20s", "--prerecord", "0s"],
                             stdin: "wait 2s\ntrigger holster\nwait 45s\nhold record 3s\nquit\n")
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        let started = r.events("recording", ("action", "started"))
        #expect(started.map { $0["trigger"] as? String } == ["holster", "continuation", "continuation"])
        #expect(r.events("recording", ("action", "stopped")).map { $0["cause"] as? String } == ["max-length", "max-length", "button"])
        try r.checkAllSegments()
        // Across the three recordings every frame is there exactly once, in order.
        let stamps = try (1...3).flatMap { try r.stamps(recording: "BWV-0001-00000\($0)") }
        #expect(stamps.map(\.sequence) == Array(0..<UInt64(48 * 30)))
        #expect(try r.stamps(recording: "BWV-0001-000001").count == 20 * 30)
    }

    @Test func dockingWhileRecordingFinalizesItFirst() throws {
        let r = try Self.run("dock-while-recording", [],
                             stdin: "wait 5s\ndouble record\nwait 5s\ndock\nexpect state docked\nexpect recording false\nwait 1m\nundock\nexpect state ready\nquit\n")
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        #expect(r.events("recording", ("action", "stopped")).first?["cause"] as? String == "docked")
        #expect(r.finalized.count == 1 && r.finalized[0]["complete"] as? Bool == true)
        try r.checkAllSegments()
        #expect(r.events("dock").map { $0["docked"] as? Bool } == [true, false])
    }

    /// A real ENOSPC from a tiny tmpfs (mounting needs root, which CI has).
    static let canMount: Bool = {
        let dir = TestSupport.temporaryDirectory("mount-probe")
        let ok = (try? TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]).status) == 0
        if ok { _ = try? TestSupport.run("/bin/umount", [dir]) }
        return ok
    }()

    @Test(.enabled(if: canMount, "needs root to mount a small tmpfs"))
    func aRealFullFileSystemStopsTheRecordingCleanly() throws {
        let mountPoint = TestSupport.temporaryDirectory()
        let mount = try TestSupport.run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint])
        #expect(mount.status == 0)
        defer { _ = try? TestSupport.run("/bin/umount", [mountPoint]) }
        // The budget believes there is plenty of space: only the file system's ENOSPC can stop it.
        let out = try TestSupport.bodycam(["run", "--size", "160x120", "--storage", mountPoint, "--storage-capacity", "1000000000",
                                           "--segment-duration", "10s", "--prerecord", "2s"],
                                          stdin: "wait 3s\ntrigger holster\nwait 2m\nexpect state ready\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        // Both: an allSatisfy over no events would pass whatever happened.
        #expect(out.events("expect").count == 1)
        #expect(out.events("expect").allSatisfy { $0["ok"] as? Bool == true })
        #expect(out.events("recording").first { $0["action"] as? String == "stopped" }?["cause"] as? String == "storage-full")
        #expect(out.events("alert").contains { $0["kind"] as? String == "storage-full" })
        let writerError = try #require(out.events("error").first { $0["source"] as? String == "writer" })
        #expect(writerError["out_of_space"] as? Bool == true)
        // Every segment, including the one being written when the disk filled, is complete and plays.
        let segments = TestSupport.segments(in: mountPoint)
        #expect(!segments.isEmpty)
        for path in segments { _ = try TestSupport.checkSegment(path, width: 160, height: 120, fps: 30) }
        let parts = try FileManager.default.contentsOfDirectory(atPath: mountPoint + "/recordings").filter { $0.hasSuffix(".part") }
        #expect(parts.isEmpty)
    }
}
