import Crypto
import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Recordings as evidence: what `bodycam verify` accepts untouched, and every kind of tampering it must
/// catch, naming the file and the check.
@Suite(.serialized)
struct EvidenceTests {
    /// One device storage with a 4-segment recording (with a marker) and a 1-segment one, made once.
    static let made = Result { () throws -> String in
        let storage = TestSupport.temporaryDirectory("evidence-original")
        let out = try TestSupport.bodycam(["run", "--strict", "--size", "160x120", "--storage", storage, "--segment-duration", "2s"],
                                          stdin: "wait 5s\ntrigger holster\nwait 1s\npress function\nhold record 3s\nwait 2s\ndouble record\nwait 1s\nhold record 3s\nquit\n")
        guard out.status == 0 else { throw TestError("the original storage could not be made: \(out.stderr)") }
        return storage
    }
    /// A fixture that could not be made fails the tests that need it; it never traps the test process.
    static var original: String { get throws { try made.get() } }

    /// A fresh copy of the original to tamper with.
    static func copy() throws -> String {
        let dir = TestSupport.temporaryDirectory("evidence-copy")
        try FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: try original, toPath: dir)
        return dir
    }

    /// The original device's key, as enrolment recorded it.
    static let madeKeys = Result { try TestSupport.trustedKeys([try original]) }
    static var keys: String { get throws { try madeKeys.get() } }

    static func verify(_ path: String) throws -> TestSupport.Output {
        try TestSupport.verify(path, keys: try keys)
    }

    static func segments(_ storage: String) -> [String] { TestSupport.segments(in: storage) }
    static func file(_ storage: String, _ name: String) -> String { storage + "/recordings/" + name }

    static func flip(_ path: String, at offset: Int) throws {
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(offset))
        let b = try h.read(upToCount: 1)![0]
        try h.seek(toOffset: UInt64(offset))
        try h.write(contentsOf: [b ^ 0x01])
    }

    @Test func untouchedRecordingsAndAuditTrailVerify() throws {
        let out = try Self.verify((try Self.original))
        #expect(out.status == 0, "\(out.stdout)")
        #expect(out.lines.filter { $0.hasPrefix("ok") }.count == 3) // two recordings and the audit trail
        #expect(out.stdout.contains("BWV-0001-000001: 4 segments, 213 frames")) // 2.0 s to 9.1 s
        // A manifest on its own, and the recordings folder, verify too.
        #expect(try Self.verify(Self.file((try Self.original), "BWV-0001-000002.manifest.json")).status == 0)
        #expect(try Self.verify((try Self.original) + "/recordings").status == 0)
    }

    @Test func manifestListsEverySegmentWithItsHashAndTheMarker() throws {
        let text = try String(contentsOfFile: Self.file((try Self.original), "BWV-0001-000001.manifest.json"), encoding: .utf8)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(json["device_id"] as? String == "BWV-0001" && json["trigger"] as? String == "holster")
        #expect(json["prerecord_s"] as? Double == 3.0 && json["recovered"] as? Bool == false)
        #expect((json["markers"] as? [[String: Any]])?.count == 1)
        let segments = try #require(json["segments"] as? [[String: Any]])
        #expect(segments.count == 4)
        for s in segments {
            let path = Self.file((try Self.original), s["file"] as! String)
            let sha = try TestSupport.run("/usr/bin/sha256sum", [path]).stdout.split(separator: " ").first.map(String.init)
            #expect(sha == s["sha256"] as? String) // the standard tool agrees
        }
    }

    @Test func identityIsCreatedOnceWithAnOwnerOnlyKey() throws {
        let state = (try Self.original) + "/state"
        let attributes = try FileManager.default.attributesOfItem(atPath: state + "/device.key")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let info = try String(contentsOfFile: state + "/device.json", encoding: .utf8)
        #expect(info.contains("\"device_id\":\"BWV-0001\"") && info.contains("\"algorithm\":\"Ed25519\""))
        // Another id on the same storage is refused, clearly.
        let other = try TestSupport.bodycam(["run", "--storage", Self.copy(), "--device-id", "BWV-0002"], stdin: "quit\n")
        #expect(other.status != 0 && other.stderr.contains("belongs to device BWV-0001"))
    }

    @Test(arguments: ["segment", "manifest", "signature", "audit"])
    func aSingleFlippedByteAnywhereIsDetected(kind: String) throws {
        var rng = SplitMix64(seed: UInt64(kind.utf8.count))
        for _ in 0..<8 {
            let storage = try Self.copy()
            defer { try? FileManager.default.removeItem(atPath: storage) }
            let path: String
            switch kind {
            case "segment": path = Self.segments(storage)[1]
            case "manifest": path = Self.file(storage, "BWV-0001-000001.manifest.json")
            case "signature": path = Self.file(storage, "BWV-0001-000001.manifest.sig")
            default: path = storage + "/state/audit.jsonl"
            }
            let size = Int(try #require(PosixFile.size(path)))
            // Not the last byte of the text files: that is the newline, which the flip would turn into
            // a character the reader may trim.
            let offset = Int(rng.next() % UInt64(kind == "segment" ? size : size - 1))
            try Self.flip(path, at: offset)
            let out = try Self.verify(storage)
            #expect(out.status == 1, "flip at \(offset) of \(kind) not detected:\n\(out.stdout)")
            #expect(out.stdout.contains("FAIL"))
        }
    }

    @Test func eachTamperingNamesTheFileAndTheCheck() throws {
        func check(_ change: (String) throws -> Void, expect fragment: String) throws {
            let storage = try Self.copy()
            defer { try? FileManager.default.removeItem(atPath: storage) }
            try change(storage)
            let out = try Self.verify(storage)
            #expect(out.status == 1)
            #expect(out.stdout.contains(fragment), "expected '\(fragment)' in:\n\(out.stdout)")
        }
        let fm = FileManager.default
        let seg = { (s: String, i: Int) in Self.segments(s)[i] }
        let name = { (s: String, i: Int) in URL(fileURLWithPath: seg(s, i)).lastPathComponent }
        // A flipped byte in a segment.
        try check({ try Self.flip(seg($0, 1), at: 5000) }, expect: "\(name((try Self.original), 1)): sha256")
        // A truncated segment.
        try check({ try FileHandle(forUpdating: URL(fileURLWithPath: seg($0, 0))).truncate(atOffset: 10_000) },
                  expect: "\(name((try Self.original), 0)): size")
        // A removed segment.
        try check({ try fm.removeItem(atPath: seg($0, 2)) }, expect: "\(name((try Self.original), 2)): exists")
        // Two segments swapped (reordered under each other's names).
        try check({ s in
            let a = seg(s, 0), b = seg(s, 1)
            try fm.moveItem(atPath: a, toPath: a + ".x"); try fm.moveItem(atPath: b, toPath: a); try fm.moveItem(atPath: a + ".x", toPath: b)
        }, expect: "\(name((try Self.original), 0)): size")
        // An edited manifest (one more frame claimed).
        try check({ s in
            let p = Self.file(s, "BWV-0001-000002.manifest.json")
            let t = try String(contentsOfFile: p, encoding: .utf8).replacingOccurrences(of: "\"complete\":true", with: "\"complete\":false")
            try t.write(toFile: p, atomically: true, encoding: .utf8)
        }, expect: "BWV-0001-000002.manifest.json: signature")
        // A missing signature.
        try check({ try fm.removeItem(atPath: Self.file($0, "BWV-0001-000001.manifest.sig")) }, expect: "manifest.sig: signature: missing")
        // A segment nobody listed.
        try check({ try fm.copyItem(atPath: seg($0, 0), toPath: Self.file($0, "20260101T090000.000Z_BWV-0001-000009_001.avi")) },
                  expect: "BWV-0001-000009_001.avi: manifest: segment is not listed")
        // An edited audit entry, a removed one, two swapped.
        func editAudit(_ s: String, _ body: (inout [String]) -> Void) throws {
            let p = s + "/state/audit.jsonl"
            var lines = try String(contentsOfFile: p, encoding: .utf8).split(separator: "\n").map(String.init)
            body(&lines)
            try (lines.joined(separator: "\n") + "\n").write(toFile: p, atomically: true, encoding: .utf8)
        }
        // The entry that says what started the first recording (0-based index `k`, entry k + 1).
        let trail = try String(contentsOfFile: (try Self.original) + "/state/audit.jsonl", encoding: .utf8).split(separator: "\n")
        let k = try #require(trail.firstIndex { $0.contains("\"trigger\":\"holster\"") })
        try check({ try editAudit($0) { $0[k] = $0[k].replacingOccurrences(of: "holster", with: "button") } },
                  expect: "audit entry \(k + 2): hash chain broken")
        try check({ try editAudit($0) { $0.remove(at: 2) } }, expect: "audit entry 3")
        try check({ try editAudit($0) { $0.swapAt(2, 3) } }, expect: "audit entry 3")
        // An edited entry with the whole chain recomputed after it: the signed checkpoint catches it.
        try check({ try editAudit($0) { lines in
            lines[k] = lines[k].replacingOccurrences(of: "holster", with: "button")
            var prev = ""
            for i in 0..<lines.count {
                if i > k, let r = lines[i].range(of: "\"prev\":\"") {
                    let start = r.upperBound, end = lines[i].index(start, offsetBy: 64)
                    lines[i].replaceSubrange(start..<end, with: prev)
                }
                prev = Hex.encode(SHA256.hash(data: Array(lines[i].utf8)))
            }
        } }, expect: "signature does not match the chain")
    }
}
