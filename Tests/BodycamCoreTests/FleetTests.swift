import BodycamCore
import BodycamEvidence
@testable import BodycamFleet
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `bodycam fleet`: the plan (pure), the figures, the cross-check, and a fleet docking through a records
/// service that is killed and restarted during the dock storm.
struct FleetTests {
    // MARK: The plan

    @Test func theSameSeedGivesTheSameFleetAndEveryLineIsACameraCommand() {
        let a = FleetPlan(cameras: 60, officers: 25, shiftSeconds: 8 * 3600, seed: 7, tag: "T1")
        let b = FleetPlan(cameras: 60, officers: 25, shiftSeconds: 8 * 3600, seed: 7, tag: "T1")
        let c = FleetPlan(cameras: 60, officers: 25, shiftSeconds: 8 * 3600, seed: 8, tag: "T1")
        #expect(a.cameras == b.cameras)
        #expect(a.cameras.map(\.shiftScript) != c.cameras.map(\.shiftScript))
        #expect(Set(a.cameras.map(\.deviceID)).count == 60)
        #expect(a.officers.count == 25)
        for (i, camera) in a.cameras.enumerated() {
            #expect(FrameStamp.isValidDeviceID(camera.deviceID))
            #expect(EvidenceNames.isValidOfficerID(camera.officer))
            #expect(camera.officer == a.officers[i % 25])
            #expect(camera.shiftScript.contains("assign \(camera.officer)"))
            for line in camera.shiftScript.split(separator: "\n") {
                guard case .success = ScriptParser.parse(String(line)) else {
                    Issue.record("\(camera.deviceID): '\(line)' is not a camera command")
                    continue
                }
            }
        }
        // Every kind of incident the issue names happens somewhere in the fleet.
        let all = a.cameras.map(\.incidents)
        #expect(all.reduce(0) { $0 + $1.buttonRecordings } > 60)
        #expect(all.reduce(0) { $0 + $1.triggeredRecordings } > 30)
        #expect(all.reduce(0) { $0 + $1.markers } > 60)
        #expect(all.reduce(0) { $0 + $1.sleeps } > 20)
        #expect(all.filter(\.lowBattery).count > 3)
    }

    @Test func aShortShiftHasTheSameShapeAndEndsInTime() {
        let plan = FleetPlan(cameras: 5, officers: 5, shiftSeconds: 600, seed: 3, tag: "S")
        for camera in plan.cameras {
            // Camera time the script's `wait` lines add up to (the virtual clock), not time on this machine.
            var scriptedWait = 0.0
            for line in camera.shiftScript.split(separator: "\n") {
                if case .success(let command?) = ScriptParser.parse(String(line)) {
                    switch command {
                    case .wait(let d): scriptedWait += Double(d) / 1e9
                    default: break
                    }
                }
            }
            #expect(scriptedWait < 600, "\(camera.deviceID): the waits add up to \(scriptedWait) s, longer than the shift")
            #expect(camera.incidents.buttonRecordings + camera.incidents.triggeredRecordings > 0)
        }
    }

    // MARK: Figures

    @Test func quantilesAreNearestRank() {
        let values = (1...100).map(Double.init)
        #expect(FleetReport.quantile(values, 0.5) == 50)
        #expect(FleetReport.quantile(values, 0.99) == 99)
        #expect(FleetReport.quantile(values, 1) == 100)
        #expect(FleetReport.quantile([4], 0.99) == 4)
        #expect(FleetReport.quantile([], 0.5) == 0)
    }

    // MARK: The cross-check

    /// A camera's storage with an audit trail of the given (event, recording, manifest sha) entries, and
    /// local manifests for `local`.
    private func storage(_ trail: [(String, String, String)], local: [String]) throws -> String {
        let root = TestSupport.temporaryDirectory("fleet-check")
        try FileManager.default.createDirectory(atPath: root + "/state", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/recordings", withIntermediateDirectories: true)
        let lines = trail.enumerated().map { i, e in "{\"seq\":\(i),\"event\":\"\(e.0)\",\"recording\":\"\(e.1)\",\"manifest_sha256\":\"\(e.2)\"}\n" }
        try lines.joined().write(toFile: root + "/state/audit.jsonl", atomically: true, encoding: .utf8)
        for id in local { try "{}".write(toFile: root + "/recordings/\(id).manifest.json", atomically: true, encoding: .utf8) }
        return root
    }

    private func row(_ id: String, _ sha: String, _ officer: String?) -> RecordsAdmin.Listed {
        RecordsAdmin.Listed(recording_id: id, device_id: String(id.prefix(8)), officer: officer, manifest_sha256: sha, bytes: 1)
    }

    @Test func theCrossCheckPassesOnlyWhenEveryRecordingIsThereOnceWithItsManifestAndOfficer() throws {
        let (a, b, c) = (String(repeating: "a", count: 64), String(repeating: "b", count: 64), String(repeating: "c", count: 64))
        var good = FleetRun.CameraResult(deviceID: "FX-00001", officer: "PC-1", storage: try storage(
            [("receipt", "FX-00001-000001", a), ("offloaded", "FX-00001-000001", ""), ("receipt", "FX-00001-000002", b), ("offloaded", "FX-00001-000002", "")],
            local: []))
        good.manifests = ["FX-00001-000001": a, "FX-00001-000002": b]
        let clean = FleetCheck(results: [good], listed: ["FX-00001": [row("FX-00001-000001", a, "PC-1"), row("FX-00001-000002", b, "PC-1")]])
        #expect(clean.passed)
        #expect(clean.expected == 2 && clean.catalogued == 2)

        // Each defect on its own is caught.
        #expect(FleetCheck(results: [good], listed: ["FX-00001": [row("FX-00001-000001", a, "PC-1")]]).missing == ["FX-00001-000002"])
        #expect(FleetCheck(results: [good], listed: ["FX-00001": [row("FX-00001-000001", a, "PC-1"), row("FX-00001-000001", a, "PC-1"),
                                                                  row("FX-00001-000002", b, "PC-1")]]).duplicated == ["FX-00001-000001"])
        #expect(FleetCheck(results: [good], listed: ["FX-00001": [row("FX-00001-000001", c, "PC-1"), row("FX-00001-000002", b, "PC-1")]]).wrongManifest
                == ["FX-00001-000001"])
        #expect(FleetCheck(results: [good], listed: ["FX-00001": [row("FX-00001-000001", a, "PC-2"), row("FX-00001-000002", b, nil)]]).wrongOfficer.count == 2)
        #expect(FleetCheck(results: [good], listed: ["FX-00001": [row("FX-00001-000001", a, "PC-1"), row("FX-00001-000002", b, "PC-1"),
                                                                  row("FX-00001-000009", c, "PC-1")]]).unexpected == ["FX-00001-000009"])

        // Deleted with no receipt before it, deleted after a receipt for other bytes, gone without trace, still on the camera.
        var bad = FleetRun.CameraResult(deviceID: "FX-00002", officer: "PC-1", storage: try storage(
            [("offloaded", "FX-00002-000001", ""), ("receipt", "FX-00002-000001", a),
             ("receipt", "FX-00002-000002", c), ("offloaded", "FX-00002-000002", "")],
            local: ["FX-00002-000004"]))
        bad.manifests = ["FX-00002-000001": a, "FX-00002-000002": b, "FX-00002-000003": c, "FX-00002-000004": a]
        let rows = bad.manifests.map { row($0.key, $0.value, "PC-1") }
        let check = FleetCheck(results: [bad], listed: ["FX-00002": rows])
        #expect(!check.passed)
        #expect(check.deletedWithoutReceipt.count == 3, "\(check.deletedWithoutReceipt)")
        #expect(check.deletedWithoutReceipt.contains { $0.hasPrefix("FX-00002-000001") })
        #expect(check.deletedWithoutReceipt.contains { $0.hasPrefix("FX-00002-000002") })
        #expect(check.deletedWithoutReceipt.contains { $0.hasPrefix("FX-00002-000003") })
        #expect(check.leftOnCamera == ["FX-00002-000004"])

        // A camera whose trail is missing cannot be vouched for.
        var lost = good
        lost.storage = TestSupport.temporaryDirectory("fleet-no-trail")
        #expect(FleetCheck(results: [lost], listed: ["FX-00001": [row("FX-00001-000001", a, "PC-1"), row("FX-00001-000002", b, "PC-1")]])
                .unreadableTrails.count == 1)
    }

    // MARK: A fleet against a real records service

    /// Four cameras through a 10-minute shift; the service is killed (SIGKILL) during the dock storm and
    /// started again on the same data: every recording still arrives exactly once, with its officer, and no
    /// camera deleted anything without a receipt. The cameras caught by the crash dock again.
    @Test(.timeLimit(.minutes(5)))
    func aFleetDeliversEverythingThroughARecordsServiceKilledDuringTheDockStorm() throws {
        let server = try RecordsServer()
        let added = try server.admin(["user", "add", "fleet", "--role", "admin"])
        let token = try #require(added.lines.last?.trimmingCharacters(in: .whitespaces))
        let work = TestSupport.temporaryDirectory("fleet-work")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.binary)
        process.arguments = ["fleet", "--cameras", "4", "--shift", "10m", "--records", server.url, "--dock-window", "4", "--seed", "5",
                             "--tag", "K", "--work", work, "--json", "--jobs", "2"]
        process.environment = ProcessInfo.processInfo.environment.merging(["BODYCAM_ADMIN_TOKEN": token]) { $1 }
        let out = Pipe(), err = Pipe()
        (process.standardOutput, process.standardError, process.standardInput) = (out, err, FileHandle.nullDevice)
        try process.run()
        // Wait for the storm, then crash the service in the middle of it and bring it back.
        var progress = ""
        while !progress.contains("dock-storm") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            progress += String(decoding: chunk, as: UTF8.self)
        }
        #expect(progress.contains("dock-storm"), "the fleet never reached the dock storm: \(progress)")
        usleep(1_200_000)
        server.kill()
        usleep(1_500_000)
        try server.start()
        let report = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let json = try #require(try JSONSerialization.jsonObject(with: report) as? [String: Any], "no report: \(String(decoding: report, as: UTF8.self))")
        let check = try #require(json["check"] as? [String: Any])
        #expect(process.terminationStatus == 0, "\(String(decoding: report, as: UTF8.self))")
        #expect(check["passed"] as? Bool == true, "\(check)")
        let recordings = try #require(json["recordings"] as? Int)
        #expect(recordings >= 4)
        #expect(json["receipts"] as? Int == recordings)
        #expect(check["catalogued"] as? Int == recordings)
        #expect((json["redocks"] as? Int ?? 0) >= 1, "no camera met the crash: \(json)")
        // The service's own view agrees: verify-store finds every blob and signature intact.
        let verified = try server.admin(["verify-store"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
    }
}
