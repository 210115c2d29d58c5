import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Thousands of seeded mutations of a real device storage through `verify` and through boot-time
/// recovery, in-process. Verify: every change to any byte of a segment, manifest, signature, audit entry
/// or signed head is caught, and nothing traps. Boot: whatever a mutation did, the camera comes up, and
/// what it kept verifies or is reported.
@Suite(.serialized)
struct EvidenceMutationTests {
    /// A storage with two recordings over several segments, a marker and a signed trail.
    static let made = Result { () throws -> String in
        let storage = TestSupport.temporaryDirectory("mutation-original")
        let out = try TestSupport.bodycam(["run", "--strict", "--size", "160x120", "--fps", "10", "--storage", storage,
                                           "--segment-duration", "1s", "--prerecord", "1s"],
                                          stdin: "wait 2s\ntrigger holster\nwait 1s\npress function\nhold record 3s\nwait 1s\ndouble record\nwait 1s\nhold record 3s\nquit\n")
        guard out.status == 0 else { throw TestError("the original storage could not be made: \(out.stderr)") }
        return storage
    }
    /// A fixture that could not be made fails the tests that need it; it never traps the test process.
    static var original: String { get throws { try made.get() } }

    static func trusted() throws -> TrustedKeys {
        var t = TrustedKeys()
        let info = try DeviceInfo.read(try original + "/state/device.json")
        try t.add(deviceID: info.deviceID, key: info.publicKey)
        return t
    }

    /// Every evidence file whose bytes verify depends on (device.json is not: keys come from `trusted`).
    static func evidenceFiles() throws -> [String] {
        let recordings = try FileManager.default.contentsOfDirectory(atPath: try original + "/recordings")
            .filter { $0.hasSuffix(".avi") || $0.hasSuffix(".manifest.json") || $0.hasSuffix(".manifest.sig") }
            .map { "recordings/" + $0 }
        return (recordings + ["state/audit.jsonl", "state/audit-head.json"]).sorted()
    }

    static func copy(_ name: String) throws -> String {
        let dir = TestSupport.temporaryDirectory(name)
        try FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: try original, toPath: dir)
        return dir
    }

    @Test func theOriginalVerifies() throws {
        var v = Verifier(trusted: try Self.trusted())
        v.verify(path: try Self.original)
        #expect(v.verified, "\(v.findings)")
        #expect(try Self.evidenceFiles().count >= 10)
    }

    /// What verify is pointed at to check `file`: its recording's manifest, or the audit trail (so each
    /// check reads only what it must, and the suite stays quick).
    static func target(_ file: String) -> String {
        if file.hasPrefix("state/") { return "state/audit.jsonl" }
        let name = String(file.dropFirst("recordings/".count))
        switch EvidenceNames.kind(of: name) {
        case .segment(let s): return "recordings/" + EvidenceNames.manifestName(s.recording)
        case .signature(let id), .manifest(let id): return "recordings/" + EvidenceNames.manifestName(id)
        default: return file
        }
    }

    /// 2,000 mutations (bit flips, byte sets, truncations, insertions, deletions) of every evidence file:
    /// each is detected, and verify names the file it found wrong.
    @Test func everyMutationOfTheEvidenceIsDetected() throws {
        let storage = try Self.copy("mutation-verify")
        defer { try? FileManager.default.removeItem(atPath: storage) }
        var rng = SeededRandom(seed: 10)
        let files = try Self.evidenceFiles(), trusted = try Self.trusted(), original = try Self.original
        let pristines = try files.map { try FileBytes.contents(original + "/" + $0) }
        let starts = zip(files, pristines).map { $0.hasSuffix(".avi") ? MutationTests.chunkStarts($1) : [] }
        for n in 0..<2000 {
            let which = n % files.count
            let file = files[which]
            let path = storage + "/" + file
            let pristine = pristines[which]
            let kind = MutationTests.Kind.allCases[rng.below(MutationTests.Kind.allCases.count)]
            let mutated = kind == .headerField && !file.hasSuffix(".avi") ? Self.flip(pristine, &rng)
                : MutationTests.mutate(pristine, chunkStarts: starts[which], kind, &rng)
            guard mutated != pristine else { continue }
            try Data(mutated).write(to: URL(fileURLWithPath: path))
            var v = Verifier(trusted: trusted)
            v.verify(path: storage + "/" + Self.target(file))
            #expect(!v.failures.isEmpty, "mutation \(n) (\(kind)) of \(file) was not detected")
            let named = Self.target(file) == file || file.hasSuffix(".head.json") ? file : file.replacingOccurrences(of: "recordings/", with: "")
            #expect(v.failures.contains { $0.subject.hasSuffix(named) || $0.detail.contains(named) || $0.subject.hasSuffix(Self.target(file)) },
                    "mutation \(n) of \(file): \(v.failures)")
            try Data(pristine).write(to: URL(fileURLWithPath: path))
        }
    }

    static func flip(_ b: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var b = b
        if !b.isEmpty { b[rng.below(b.count)] ^= UInt8(1) << UInt8(rng.below(8)) }
        return b
    }

    /// 200 boots of storages damaged anywhere (segments renamed back to `.part` and mutated, state files
    /// mutated): every boot comes up, and afterwards the storage holds no unfinished segment, and
    /// whatever boot could not use is in quarantine rather than gone.
    @Test func theCameraBootsWhateverTheDamage() throws {
        var rng = SeededRandom(seed: 11)
        let stateFiles = ["state/audit.jsonl", "state/audit-head.json", "state/device.json", "state/device.key", "state/counters.json"]
        for n in 0..<200 {
            let storage = try Self.copy("mutation-boot")
            defer { try? FileManager.default.removeItem(atPath: storage) }
            // Damage one or two things.
            for _ in 0..<(1 + rng.below(2)) {
                if rng.below(2) == 0 {
                    let segments = TestSupport.segments(in: storage)
                    let s = segments[rng.below(segments.count)]
                    let bytes = try FileBytes.contents(s)
                    let kind = MutationTests.Kind.allCases[rng.below(MutationTests.Kind.allCases.count)]
                    try Data(MutationTests.mutate(bytes, chunkStarts: MutationTests.chunkStarts(bytes), kind, &rng))
                        .write(to: URL(fileURLWithPath: s + ".part"))
                    try FileManager.default.removeItem(atPath: s)
                } else {
                    let path = storage + "/" + stateFiles[rng.below(stateFiles.count)]
                    let bytes = try FileBytes.contents(path)
                    let kind = MutationTests.Kind.allCases[rng.below(MutationTests.Kind.allCases.count)]
                    try Data(kind == .headerField ? Self.flip(bytes, &rng) : MutationTests.mutate(bytes, chunkStarts: [], kind, &rng))
                        .write(to: URL(fileURLWithPath: path))
                }
            }
            var settings = CameraSettings()
            settings.storage = storage
            settings.width = 160
            settings.height = 120
            let before = Set(try FileManager.default.contentsOfDirectory(atPath: storage + "/recordings"))
            let boot: DeviceBoot
            do { boot = try DeviceBoot.start(settings: settings, clock: VirtualClock()) } catch {
                Issue.record("boot \(n) failed: \(error)")
                continue
            }
            let after = try FileManager.default.contentsOfDirectory(atPath: storage + "/recordings")
            #expect(!after.contains { $0.hasSuffix(".part") }, "boot \(n) left \(after)")
            // Nothing vanished: each file is still there, finished, quarantined, or an empty segment removed.
            let quarantined = Quarantine(storage: storage).contents
            for name in before.subtracting(after) {
                let finishedName = name.hasSuffix(".part") ? String(name.dropLast(5)) : name
                let finished = name.hasSuffix(".part") && after.contains(finishedName)
                // Set aside as it was, or after it was finished (its recording could not be vouched for).
                let isolated = quarantined.contains {
                    $0.hasSuffix("_" + name) || $0.contains("_" + name + ".") || $0.hasSuffix("_" + finishedName) || $0.contains("_" + finishedName + ".")
                }
                let removedEmpty = boot.recovery.emptySegmentsRemoved.contains(name)
                #expect(finished || isolated || removedEmpty, "boot \(n): \(name) disappeared")
            }
            _ = boot.audit.entries
        }
    }
}
