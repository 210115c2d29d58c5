import BodycamEvidence
import Testing
@testable import BodycamRecords

/// Who may send: unknown, revoked and impostor devices are refused before a byte is stored, and every
/// refusal is in the custody log.
@Suite struct RefusalTests {
    @Test func anUnknownDeviceIsRefusedAndNothingIsStored() async throws {
        let s = try await RunningService.start()
        defer { s.stop() }
        let stranger = try TestDevice("DEV-000099", port: s.port)
        let r = SyntheticRecording.make(stranger.identity, number: 1, segments: 1)
        let reply = try await stranger.put(r.id, r.segments[0].file, offset: 0, r.segments[0].bytes)
        #expect(reply.status == 403)
        #expect(reply.error?.error.contains("not enrolled") == true)
        #expect(s.storedFiles.isEmpty)
        let refused = try s.refusals()
        #expect(refused.count == 1 && refused[0].deviceID == "DEV-000099" && refused[0].actor == "service")
    }

    @Test func aRevokedDeviceIsRefusedOnItsNextRequest() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        let (file, bytes) = r.segments[0]
        #expect(try await device.put(r.id, file, offset: 0, Array(bytes[..<100])).status == 200)
        try s.service.revoke(deviceID: device.id)
        let reply = try await device.put(r.id, file, offset: 100, Array(bytes[100...]))
        #expect(reply.status == 403)
        #expect(reply.error?.error.contains("revoked") == true)
        #expect(try s.service.blobs.partialSize(UploadName(device: device.id, folder: r.id, file: file)!) == 100)
        #expect(try s.refusals().contains { $0.deviceID == device.id && $0.detail.contains("revoked") })
        #expect(try s.custody().contains { $0.action == .revoke && $0.actor == "admin" })
    }

    @Test func anImpostorWithAKnownIDIsRefusedAndNothingIsStored() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let impostor = try TestDevice(device.id, port: s.port) // same id, its own key
        let r = SyntheticRecording.make(impostor.identity, number: 1, segments: 1)
        let reply = try await impostor.put(r.id, r.segments[0].file, offset: 0, r.segments[0].bytes)
        #expect(reply.status == 403)
        #expect(reply.error?.error.contains("does not verify with the key pinned") == true)
        #expect(s.storedFiles.isEmpty)
        #expect(try await impostor.send("POST", RecordsWire.dockPath).status == 403)
        #expect(try s.refusals().count == 2)
        // The real camera is not affected (the impostor's sequence numbers were not taken).
        #expect(try await device.send("POST", RecordsWire.dockPath).status == 200)
    }

    @Test func aMalformedOrMissingSignatureIs401() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let target = device.path("DEV-000001-000001", "DEV-000001-000001.manifest.sig") + "?offset=0"
        #expect(try await HTTPClient.send(port: s.port, method: "PUT", target: target, body: [1, 2, 3]).status == 401)
        let bad = try await HTTPClient.send(port: s.port, method: "PUT", target: target,
                                            headers: [("Authorization", "Bodycam-Ed25519 device=DEV-000001 seq=01 sig=AAAA")], body: [1])
        #expect(bad.status == 401)
        #expect(s.storedFiles.isEmpty)
        #expect(try s.refusals().count == 2)
    }

    @Test func aReplayedRequestIsRefusedWithTheLastSequence() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let first = try await device.send("POST", RecordsWire.dockPath, seq: 10)
        #expect(first.status == 200)
        let replay = try await device.send("POST", RecordsWire.dockPath, seq: 10)
        #expect(replay.status == 409)
        #expect(replay.error?.last_seq == 10)
        #expect(try await device.send("POST", RecordsWire.dockPath, seq: 5).error?.last_seq == 10)
        #expect(try await device.send("POST", RecordsWire.dockPath, seq: 11).status == 200)
        #expect(try s.refusals().filter { $0.detail.contains("not above the last") }.count == 2)
    }

    @Test func aDeviceMaySendOnlyItsOwnFiles() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let other = RecordsWire.filePath(device: "DEV-000002", folder: "DEV-000002-000001", file: "DEV-000002-000001.manifest.sig")
        #expect(try await device.send("PUT", other + "?offset=0", body: [1]).status == 403)
        // A name records do not accept (not the device's recording) is never a path.
        #expect(try await device.send("PUT", device.path("DEV-000001-000001", "..%2Fservice.key") + "?offset=0", body: [1]).status == 404)
        #expect(s.storedFiles.isEmpty)
    }
}
