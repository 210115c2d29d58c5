import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Kills the camera with SIGKILL at many random moments while it records in real time, boots it again,
/// and checks that what was recorded survived: every segment plays, the frames up to a sync interval
/// before the kill are there in order, and the recovered recording verifies.
/// `BODYCAM_POWERCUT_KILLS` sets how many (50 in `make test`, more in `make test-powercut`).
@Suite(.serialized)
struct PowerCutTests {
    static let kills = Int(ProcessInfo.processInfo.environment["BODYCAM_POWERCUT_KILLS"] ?? "") ?? 50
    static let parallel = 10
    static let options = ["--size", "160x120", "--boot-time", "0s", "--prerecord", "1s", "--segment-duration", "1s",
                          "--sync-interval", "1s"]

    struct Victim {
        var storage: String
        var process: Process
        var started: Date
        var killAfter: Double
        var killedAt: Double = 0
        /// Seconds from the first segment appearing to the kill: the recording's own age when it died.
        var recordedFor: Double = 0
    }

    @Test func recordingsSurviveSIGKILLAtRandomMoments() throws {
        var rng = SplitMix64(seed: 2026)
        let script = TestSupport.temporaryDirectory("powercut-script") + "/script"
        try "trigger holster\nwait 60s\nquit\n".write(toFile: script, atomically: true, encoding: .utf8)
        var done = 0
        while done < Self.kills {
            let batch = min(Self.parallel, Self.kills - done)
            var victims: [Victim] = []
            for _ in 0..<batch {
                let storage = TestSupport.temporaryDirectory("powercut")
                let p = Process()
                p.executableURL = URL(fileURLWithPath: TestSupport.binary)
                p.arguments = ["run", "--clock", "real", "--storage", storage, "--script", script] + Self.options
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                // Into the recording, counted from when its first segment appears: ten cameras starting at
                // once on two cores take a varying while to boot, and a kill before recording proves nothing.
                let delay = 0.05 + Double(rng.next() % 2200) / 1000
                victims.append(Victim(storage: storage, process: p, started: Date(), killAfter: delay))
            }
            // Each kill is timed from when that camera's first segment appears.
            var segmentSeen: [Date?] = Array(repeating: nil, count: victims.count)
            var alive = Set(victims.indices)
            let deadline = Date().addingTimeInterval(60)
            while !alive.isEmpty {
                for i in alive.sorted() {
                    if segmentSeen[i] == nil {
                        let names = (try? FileManager.default.contentsOfDirectory(atPath: victims[i].storage + "/recordings")) ?? []
                        if names.contains(where: { $0.hasSuffix(".avi.part") }) { segmentSeen[i] = Date() }
                    }
                    let due = segmentSeen[i].map { Date().timeIntervalSince($0) >= victims[i].killAfter } ?? false
                    if due || Date() > deadline {
                        kill(victims[i].process.processIdentifier, SIGKILL)
                        victims[i].killedAt = Date().timeIntervalSince(victims[i].started)
                        victims[i].recordedFor = segmentSeen[i].map { Date().timeIntervalSince($0) } ?? 0
                        alive.remove(i)
                    }
                }
                usleep(10_000)
            }
            for v in victims {
                v.process.waitUntilExit()
                #expect(v.process.terminationReason == .uncaughtSignal)
                try check(v)
                try? FileManager.default.removeItem(atPath: v.storage)
            }
            done += batch
        }
    }

    /// Boots the camera again on the killed storage (recovery runs at boot) and checks the result.
    func check(_ v: Victim) throws {
        let boot = try TestSupport.bodycam(["run", "--storage", v.storage] + Self.options, stdin: "quit\n")
        #expect(boot.status == 0, "\(boot.stderr)")
        let recordings = v.storage + "/recordings"
        let names = try FileManager.default.contentsOfDirectory(atPath: recordings)
        #expect(!names.contains { $0.hasSuffix(".part") }, "unfinished segments left after recovery: \(names)")
        let segments = TestSupport.segments(in: v.storage)
        guard !segments.isEmpty else {
            Issue.record("killed at \(v.killedAt) s: no segment at all")
            return
        }
        var stamps: [FrameStamp] = []
        for path in segments {
            let avi = try TestSupport.checkSegment(path, width: 160, height: 120, fps: 30)
            stamps += try avi.frames.indices.map { try #require(avi.stamp($0)) }
        }
        // One recording, every frame in order without a gap.
        let seqs = stamps.map(\.sequence)
        let first = try #require(seqs.first)
        #expect(seqs == Array(first..<(first + UInt64(seqs.count))), "killed at \(v.killedAt) s: frames missing in the middle")
        // Frames up to a sync interval (1 s) before the kill survived. Measured from the first frame, whose
        // segment appeared when the test started counting: not from the process's start, whose boot takes
        // a varying while on a loaded machine.
        let recorded = Double(stamps.last!.mono - stamps.first!.mono) / 1e9
        #expect(recorded >= v.recordedFor - 1.0 - 0.5, "killed \(v.recordedFor) s into the recording, \(recorded) s of it recovered")
        let verify = try TestSupport.verify(v.storage, trusting: v.storage)
        #expect(verify.status == 0, "\(verify.stdout)")
        // The kill came mid-recording, so its manifest was rebuilt at boot, and says so.
        let line = verify.lines.first { $0.hasPrefix("ok    BWV-0001-000001:") } ?? ""
        #expect(line.contains("recovered after power loss"), "killed at \(v.killedAt) s:\n\(verify.stdout)")
    }
}
