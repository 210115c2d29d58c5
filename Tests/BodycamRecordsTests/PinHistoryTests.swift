import BodycamEvidence
import Foundation
import Testing
@testable import BodycamRecords

/// Pin history: a camera revoked and enrolled again with a new key (found and re-keyed, or its id reused
/// for a replacement unit). What was received under the old key exports and verifies for years, each
/// recording under the pin it was received under; the old key vouches for nothing received afterwards.
@Suite(.serialized) struct PinHistoryTests {
    static let script = """
        dock
        wait 2s
        assign PC-1
        undock
        wait 1s
        hold record 3s
        wait 2s
        double record
        wait 1s
        dock
        wait 30s
        expect local_recordings 0
        quit

        """

    /// One dock of the real camera on `storage` with a fresh enrolment token.
    static func dock(_ s: RunningService, storage: String) async throws {
        let token = try s.service.issueEnrolmentToken(deviceID: "BWV-0001", lifetime: 86_400_000_000_000)
        let out = try await Blocking.run {
            try ExportTests.run(ExportTests.camera, ["run", "--strict", "--storage", storage, "--device-id", "BWV-0001",
                                                     "--records", "http://127.0.0.1:\(s.port)", "--enrol-token", token, "--size", "160x120",
                                                     "--boot-time", "0s", "--prerecord", "2s", "--segment-duration", "2s"], stdin: script)
        }
        #expect(out.status == 0, "\(out.stderr.suffix(3000))\(out.stdout.suffix(3000))")
    }

    /// BWV-0001 enrolled with key A docks a recording; it is revoked; the same camera gets a new key B (its
    /// identity files removed: it makes a new key and a new audit trail, keeps its recording numbers) and
    /// docks another under a new enrolment.
    static func reKeyedCamera(_ name: String = #function) async throws -> (RunningService, keyA: PublicKey, keyB: PublicKey) {
        let s = try await RunningService.start(name)
        try s.service.addOfficer(id: "PC-1", name: "One", trained: true)
        let storage = TestFolders.make("camera")
        try await dock(s, storage: storage)
        let keyA = try DeviceInfo.read(storage + "/state/" + DeviceIdentity.infoFileName).publicKey
        s.clock.advance(seconds: 60)
        try s.service.revoke(deviceID: "BWV-0001")
        s.clock.advance(seconds: 60)
        for name in [DeviceIdentity.keyFileName, DeviceIdentity.infoFileName] {
            try FileManager.default.removeItem(atPath: storage + "/state/" + name)
        }
        try await dock(s, storage: storage)
        let keyB = try DeviceInfo.read(storage + "/state/" + DeviceIdentity.infoFileName).publicKey
        #expect(keyA != keyB)
        return (s, keyA, keyB)
    }

    @Test func recordingsUnderARevokedKeyAndItsSuccessorExportAndVerify() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ExportTests.camera), "build it first: swift build")
        let (s, keyA, keyB) = try await Self.reKeyedCamera()
        defer { s.stop() }
        let ids = try await s.recordings().map(\.recordingID).sorted()
        try #require(ids.count == 2, "\(ids)")

        let work = TestFolders.make()
        let bundle = work + "/bundle"
        let export = try CommandTests.run(["export"] + ids + ["--out", bundle, "--by", "DC 1234 Smith", "--data", s.data])
        #expect(export.status == 0, "\(export.stderr)")
        let keys = work + "/trusted-keys"
        try CommandTests.run(["key", "--data", s.data]).stdout.write(toFile: keys, atomically: true, encoding: .utf8)
        let verified = try ExportTests.run(ExportTests.camera, ["verify", bundle, "--trusted-keys", keys])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("court bundle of 2 recording(s)"), "\(verified.stdout)")
        let pins = PosixFile.list(bundle + "/devices").sorted()
        #expect(pins == ["BWV-0001.\(keyA.fingerprintHex).pin", "BWV-0001.\(keyB.fingerprintHex).pin"].sorted(), "\(pins)")

        let store = try CommandTests.run(["verify-store", "--data", s.data])
        #expect(store.status == 0, "\(store.stdout)\(store.stderr)")
    }
}
