import BodycamEvidence
import Foundation
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

/// Real recordings (the `bodycam` camera docking into the in-process service): thumbnails, court bundles
/// that `bodycam verify` checks offline trusting only the records key, and `verify-store`.
@Suite(.serialized) struct ExportTests {
    /// The camera binary beside `bodycam-records`.
    static var camera: String { URL(fileURLWithPath: CommandTests.binary).deletingLastPathComponent().appendingPathComponent("bodycam").path }

    static func run(_ executable: String, _ arguments: [String], stdin: String = "") throws -> CommandTests.Output {
        let dir = TestFolders.make("io")
        let input = dir + "/stdin"
        try stdin.write(toFile: input, atomically: true, encoding: .utf8)
        let out = URL(fileURLWithPath: dir + "/stdout"), err = URL(fileURLWithPath: dir + "/stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: input))
        try p.run()
        p.waitUntilExit()
        return CommandTests.Output(status: p.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
                                   stderr: try String(contentsOf: err, encoding: .utf8))
    }

    /// A service holding two recordings of camera BWV-0001 worn by PC-1, docked by the real camera.
    static func serviceWithRealRecordings(_ name: String = #function) async throws -> (RunningService, [String]) {
        let s = try await RunningService.start(name)
        try s.service.addOfficer(id: "PC-1", name: "One", trained: true)
        let token = try s.service.issueEnrolmentToken(deviceID: "BWV-0001", lifetime: 86_400_000_000_000)
        let storage = TestFolders.make("camera")
        let script = """
            dock
            wait 2s
            assign PC-1
            undock
            wait 1s
            trigger holster
            wait 3s
            hold record 3s
            wait 2s
            double record
            wait 2s
            hold record 3s
            wait 1s
            dock
            wait 30s
            expect local_recordings 0
            quit

            """
        let out = try await Blocking.run {
            try run(camera, ["run", "--strict", "--storage", storage, "--device-id", "BWV-0001", "--records", "http://127.0.0.1:\(s.port)",
                             "--enrol-token", token, "--size", "160x120", "--boot-time", "0s", "--prerecord", "2s", "--segment-duration", "2s"],
                    stdin: script)
        }
        #expect(out.status == 0, "\(out.stderr.suffix(3000))")
        let ids = try await s.recordings().map(\.recordingID)
        #expect(ids.count == 2, "\(out.stdout.suffix(3000))")
        return (s, ids)
    }

    func get(_ s: RunningService, _ target: String, token: String) async throws -> HTTPReply {
        try await HTTPClient.send(port: s.port, method: "GET", target: target, headers: [("Authorization", "Bearer \(token)")])
    }

    @Test func anExportedBundleVerifiesOfflineAndAnyChangeIsNamed() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.camera), "build it first: swift build")
        let (s, ids) = try await Self.serviceWithRealRecordings()
        defer { s.stop() }
        try #require(ids.count == 2)

        // The thumbnail: the first frame, a JPEG that decodes; another officer gets 404; a view in custody.
        try s.service.addOfficer(id: "PC-2", name: "Two", trained: true)
        let own = try s.service.addUser(name: "one", role: .officer, officer: "PC-1")
        let other = try s.service.addUser(name: "two", role: .officer, officer: "PC-2")
        let thumb = try await get(s, "/v1/recordings/\(ids[0])/thumbnail", token: own)
        #expect(thumb.status == 200 && thumb.headers["content-type"] == "image/jpeg", "\(thumb.status) \(thumb.text.prefix(200))")
        #expect(thumb.body.starts(with: [0xFF, 0xD8]))
        let jpeg = TestFolders.make() + "/thumb.jpg"
        try Data(thumb.body).write(to: URL(fileURLWithPath: jpeg))
        let decoded = try Self.run("/usr/bin/env", ["djpeg", "-outfile", "/dev/null", jpeg])
        #expect(decoded.status == 0, "djpeg: \(decoded.stderr)")
        #expect(try await get(s, "/v1/recordings/\(ids[0])/thumbnail", token: other).status == 404)
        #expect(try s.custody().last.map { $0.action == .view && $0.actor == "one" && $0.detail.contains("thumbnail") } == true)

        // The export, and the key line a checker trusts.
        let work = TestFolders.make()
        let bundle = work + "/bundle"
        let export = try CommandTests.run(["export", ids[0], ids[1], "--out", bundle, "--case", "OP-42", "--by", "DC 1234 Smith", "--data", s.data])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stderr.isEmpty, "\(export.stderr)")
        let keys = work + "/trusted-keys"
        try CommandTests.run(["key", "--data", s.data]).stdout.write(toFile: keys, atomically: true, encoding: .utf8)
        let verified = try Self.run(Self.camera, ["verify", bundle, "--trusted-keys", keys])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("court bundle of 2 recording(s)"), "\(verified.stdout)")
        let key = try #require(try s.service.catalogue.readNow { try $0.device("BWV-0001") }).key
        #expect(PosixFile.list(bundle + "/audit/BWV-0001.\(key.fingerprintHex)").count == 2, "the audit trail copy and its head")
        let exports = try s.custody().filter { $0.action == .export }
        #expect(Set(exports.compactMap(\.recordingID)) == Set(ids) && exports.allSatisfy { $0.detail.contains("OP-42") })
        // The bundle's custody lines: the enrolment, both recordings' uploads and receipts, the thumbnail view.
        let custodyText = try String(contentsOfFile: bundle + "/custody.jsonl", encoding: .utf8)
        for needle in [#""action":"enrol""#, #""action":"receipt""#, #""action":"view""#] { #expect(custodyText.contains(needle), "\(needle)") }

        func copy() throws -> String {
            let to = TestFolders.make() + "/bundle"
            try FileManager.default.copyItem(atPath: bundle, toPath: to)
            return to
        }
        // One byte of a segment changed: named.
        let changed = try copy()
        let folder = changed + "/recordings/" + ids[0]
        let segment = try #require(PosixFile.list(folder).filter { $0.hasSuffix(".avi") }.sorted().first)
        var bytes = try FileBytes.contents(folder + "/" + segment)
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + segment))
        let byte = try Self.run(Self.camera, ["verify", changed, "--trusted-keys", keys])
        #expect(byte.status == 1 && byte.stdout.contains(segment) && byte.stdout.contains("sha256"), "\(byte.stdout)")
        // A recording removed: named.
        let removed = try copy()
        try FileManager.default.removeItem(atPath: removed + "/recordings/" + ids[1])
        let gone = try Self.run(Self.camera, ["verify", removed, "--trusted-keys", keys])
        #expect(gone.status == 1 && gone.stdout.contains(ids[1]) && gone.stdout.contains("missing"), "\(gone.stdout)")
        // Another records key trusted: the index is not signed by it.
        let otherKeys = work + "/other-keys"
        try CommandTests.run(["key", "--data", TestFolders.make()]).stdout.write(toFile: otherKeys, atomically: true, encoding: .utf8)
        let swapped = try Self.run(Self.camera, ["verify", bundle, "--trusted-keys", otherKeys])
        #expect(swapped.status == 1 && swapped.stdout.contains("bundle.json") && swapped.stdout.contains("records key"), "\(swapped.stdout)")

        // Refused: an unknown recording, an existing folder with files in it.
        let unknown = try CommandTests.run(["export", "BWV-0001-000099", "--out", work + "/b2", "--data", s.data])
        #expect(unknown.status == 1 && unknown.stderr.contains("no recording BWV-0001-000099"), "\(unknown.stderr)")
        #expect(try CommandTests.run(["export", ids[0], "--out", bundle, "--data", s.data]).stderr.contains("not empty"))
    }

    @Test func verifyStorePassesOnAGoodStoreAndNamesAChangedBlob() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.camera), "build it first: swift build")
        let (s, ids) = try await Self.serviceWithRealRecordings()
        defer { s.stop() }
        try #require(ids.count == 2)
        let good = try CommandTests.run(["verify-store", "--data", s.data])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("ok: ") && good.stdout.contains("2 recording(s)"), "\(good.stdout)")

        // One byte of a segment's blob flipped (as someone with the disk could): named, with the check.
        let r = try #require(try await s.service.catalogue.read { try $0.recording(ids[1]) })
        let manifest = try RecordingManifest.parse(try s.service.blobs.readBlob(r.manifestSHA256, limit: RecordingManifest.maxFileBytes))
        let sha = try #require(manifest.segments.first?.sha256)
        let path = try #require((s.service.blobs as? FolderBlobStore)?.localPath(sha))
        chmod(path, 0o640)
        var bytes = try FileBytes.contents(path)
        bytes[bytes.count - 10] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let bad = try CommandTests.run(["verify-store", "--data", s.data, "--json"])
        #expect(bad.status == 1)
        struct Report: Decodable { struct Problem: Decodable { var file: String; var check: String }; var ok: Bool; var problems: [Problem] }
        let report = try #require(try? JSONDecoder().decode(Report.self, from: Data(bad.stdout.utf8)), "\(bad.stdout)")
        #expect(!report.ok && report.problems.count == 1)
        #expect(report.problems.first?.file.hasPrefix("blobs/\(sha.prefix(2))/\(sha)") == true && report.problems.first?.check == "sha256",
                "\(bad.stdout)")
        // The text form names it too; a blob removed is named as missing.
        let text = try CommandTests.run(["verify-store", "--data", s.data])
        #expect(text.stdout.contains("FAIL  blobs/\(sha.prefix(2))/\(sha)") && text.stdout.contains("FAILED"), "\(text.stdout)")
        let other = try #require(manifest.segments.last?.sha256)
        try FileManager.default.removeItem(atPath: try #require((s.service.blobs as? FolderBlobStore)?.localPath(other)))
        let missing = try CommandTests.run(["verify-store", "--data", s.data])
        #expect(missing.status == 1 && missing.stdout.contains("FAIL  blobs/\(other.prefix(2))/\(other)") && missing.stdout.contains("present: missing"),
                "\(missing.stdout)")
    }
}
