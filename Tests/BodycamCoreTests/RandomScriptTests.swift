import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// For any script: every recording decodes with ffmpeg, and the untouched storage (and the records it
/// docked into) verify against the camera's enrolled key. Scripts are drawn from the whole command
/// language, faults and docking included, from fixed seeds so a failure reruns exactly.
@Suite(.serialized)
struct RandomScriptTests {
    static let seeds: [UInt64] = Array(1...10)

    /// A random but valid-looking script: gestures, triggers, faults, docks, waits, plus a few bad lines.
    static func script(seed: UInt64) -> String {
        var rng = SplitMix64(seed: seed)
        func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
        // One recording for certain, then anything.
        var lines: [String] = ["wait 3s", "trigger holster", "wait 2s", "hold record 3s"]
        var docked = false
        for _ in 0..<(20 + Int(rng.next() % 25)) {
            switch rng.next() % 16 {
            case 0, 1: lines.append("double record")
            case 2: lines.append("hold record \(pick(["1s", "2900ms", "3s", "3100ms"]))")
            case 3: lines.append("press \(pick(["record", "function", "power"]))")
            case 4: lines.append("trigger \(pick(["holster", "taser", "lightbar", "peer"]))")
            case 5: lines.append("hold function 3s")
            case 6: lines.append("fault \(pick(["disk-stall", "disk-resume", "disk-full", "disk-ok", "camera-lost", "camera-back"]))")
            case 7: lines.append("fault corrupt-frames \(1 + rng.next() % 40)")
            case 8:
                lines.append(docked ? "undock" : "dock")
                docked.toggle()
            case 9: lines.append("battery \(pick([100, 50, 9, 4]))")
            case 10: lines.append(pick(["status", "expect state recording", "frobnicate", "wait -1s", "press elbow"]))
            case 11: lines.append("press power\npress function") // sleep
            default: lines.append("wait \(pick(["200ms", "500ms", "1s", "2s", "4s", "7s"]))")
            }
        }
        if docked { lines.append("undock") }
        lines.append("fault disk-resume\nfault disk-ok\nfault camera-back\nwait 1s\nhold record 3s\ndock\nwait 20s")
        return lines.joined(separator: "\n") + "\nquit\n"
    }

    @Test(arguments: seeds)
    func everyRecordingDecodesAndTheUntouchedStorageVerifies(seed: UInt64) throws {
        let storage = TestSupport.temporaryDirectory("random-\(seed)")
        let records = storage + "-records"
        defer { for d in [storage, records] { try? FileManager.default.removeItem(atPath: d) } }
        let script = Self.script(seed: seed)
        let out = try TestSupport.bodycam(["run", "--size", "160x120", "--fps", "10", "--prerecord", "2s", "--segment-duration", "2s",
                                           "--storage", storage, "--records", records, "--offload-rate", "100000000",
                                           "--boot-time", "500ms"], stdin: script)
        #expect(out.status == 0, "seed \(seed): exit \(out.status)\n\(out.stderr)\n\(script)")
        #expect(!out.events("recording").filter { $0["action"] as? String == "finalized" }.isEmpty, "seed \(seed)")
        let segments = TestSupport.segments(in: storage) + Verifier.files(under: records, depth: 4).filter { $0.hasSuffix(".avi") }
        for path in segments {
            let probe = try TestSupport.ffprobe(path)
            #expect(probe.codec == "mjpeg" && probe.frames > 0, "seed \(seed): \(path)")
            #expect(try TestSupport.ffmpegDecodeErrors(path) == "", "seed \(seed): \(path)")
        }
        let keys = try TestSupport.trustedKeys([storage])
        let verify = try TestSupport.verify(storage, keys: keys)
        #expect(verify.status == 0, "seed \(seed):\n\(verify.stdout)\n\(script)")
        if FileManager.default.fileExists(atPath: records + "/trusted-keys") {
            let atRecords = try TestSupport.verifyRecords(records)
            #expect(atRecords.status == 0, "seed \(seed):\n\(atRecords.stdout)\n\(script)")
        }
    }
}
