import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Inputs the fuzzers (`make fuzz`) found, kept in Fixtures/fuzz as `<target>-<what>.bin` and replayed with
/// the property their target checks: each failed before its fix.
struct FuzzRegressionTests {
    static let folder = TestSupport.packageRoot.appendingPathComponent("Fixtures/fuzz").path

    static func inputs(_ target: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix(target + "-") && $0.hasSuffix(".bin") }.sorted()
    }

    /// What AVI repair keeps (complete or rebuilt) must read back as a segment with that many frames.
    @Test(arguments: inputs("avi-repair"))
    func whateverRepairKeepsReadsBack(name: String) throws {
        let path = TestSupport.temporaryDirectory("fuzz-regression") + "/" + name + ".avi.part"
        try FileManager.default.copyItem(atPath: Self.folder + "/" + name, toPath: path)
        let outcome: AVIRepair.Outcome
        do { outcome = try AVIRepair.finish(path: path) } catch {
            guard case .damagedHeader = error else { throw error }
            return // refused as damaged: quarantined by recovery, which is fine
        }
        switch outcome {
        case .complete(let n), .rebuilt(let n):
            let avi = try AVIReader.read(path: path)
            #expect(avi.frames.count == n)
        case .empty:
            break
        }
    }

    @Test func thereAreInputs() { #expect(!Self.inputs("avi-repair").isEmpty) }
}
