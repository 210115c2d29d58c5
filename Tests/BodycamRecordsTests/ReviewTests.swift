import BodycamEvidence
import Foundation
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

/// Review findings on the records service.
@Suite struct ReviewTests {
    /// Finding: the retention job picked candidates by their end alone (500 at a time, oldest end first)
    /// and then, in the transaction, skipped those that reached the records too recently to expire. 500
    /// such recordings (a camera whose clock said 2020 docking a backlog) filled every batch, the job
    /// stopped at the first batch with nothing new, and no expired recording behind them was ever
    /// deleted: non-evidential footage kept past its 31 days for as long as the backlog lasted.
    @Test func recordingsThatArrivedLateDoNotStopTheRetentionJob() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        #expect(try await device.upload(r).status == 200)
        let now = s.service.clock()
        let day: Int64 = 86_400 * 1_000_000_000
        let old = UTC.parse("2020-01-01T08:00:00Z") ?? 0
        // 500 recordings that ended in 2020 by their camera's clock but reached the records 10 days later
        // than the one above: not expired when it is.
        try s.service.catalogue.writeNow { tx in
            for n in 1000..<1500 {
                try tx.insertRecording(RecordingRecord(
                    recordingID: EvidenceNames.RecordingID(deviceID: device.id, number: n).text, deviceID: device.id, officer: nil,
                    trigger: "button", startUTC: old, endUTC: old + 10_000_000_000, markers: 0, frames: 10, bytes: 1,
                    manifestSHA256: String(repeating: "a", count: 64), receivedUTC: now + 10 * day, receipt: Array("x\n".utf8)))
            }
        }
        let report = try s.service.runRetention(now: now + 32 * day)
        #expect(report.deleted.map(\.recordingID) == [r.id])
    }

    static func connect(port: Int, timeoutSeconds: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return fd
    }

    /// Finding (fixed with a per-request read deadline, RequestDeadline.swift): 64 unauthenticated
    /// connections that each send a header byte now and then are never idle, so the idle timeout never
    /// closed them, and they filled `RecordsServer.maxConnections`: no camera could dock (they keep their
    /// copies, so no evidence is lost, but nothing was offloaded for as long as the attacker kept it up).
    /// Now each must complete its head within `RecordsServer.requestHeadSeconds` of being accepted.
    @Test func slowUnauthenticatedConnectionsDoNotLockCamerasOut() async throws {
        let (s, _) = try await serviceWithDevice()
        defer { s.stop() }
        let port = s.port
        let deadline = Int(RecordsServer.requestHeadSeconds)
        let fds = (0..<RecordsServer.maxConnections).map { _ in Self.connect(port: port, timeoutSeconds: 5) }
        for fd in fds { _ = send(fd, "GET /v1/recordings HTTP/1.1\r\nHost: x\r\n", 35, Int32(MSG_NOSIGNAL)) }
        // They keep dribbling for three times the deadline, past the time limit below.
        let dripping = Task.detached {
            for _ in 0..<(6 * deadline) {
                try await Task.sleep(nanoseconds: 500_000_000)
                for fd in fds { _ = send(fd, "X", 1, Int32(MSG_NOSIGNAL)) }
            }
        }
        try? await Task.sleep(nanoseconds: 500_000_000)
        // A people request (no signature needed to show it): answered once the deadline has closed the
        // dribblers. The time limit, a bit above the deadline, only turns a lock-out into a failure.
        let answered: Bool = (try? await Blocking.run {
            let fd = Self.connect(port: port, timeoutSeconds: deadline + 10)
            defer { close(fd) }
            let request = "GET /v1/recordings HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            _ = send(fd, request, request.utf8.count, Int32(MSG_NOSIGNAL))
            var buf = [UInt8](repeating: 0, count: 1024)
            return recv(fd, &buf, buf.count, 0) > 0
        }) ?? false
        // The dribbler stops before its sockets close (no send to a number reused meanwhile).
        dripping.cancel()
        _ = await dripping.result
        for fd in fds { close(fd) }
        #expect(answered, "locked out while \(fds.count) connections dribbled")
    }

    /// Finding (fixed with a refusal budget): every unauthenticated refusal was a signed custody entry, so
    /// anyone who could reach the port grew the catalogue without bound (about 300 bytes and a signature
    /// per request) until the disk was full and cameras got 507.
    @Test func unauthenticatedRequestsDoNotGrowTheCustodyLogWithoutBound() async throws {
        let (s, _) = try await serviceWithDevice()
        defer { s.stop() }
        let before = try s.custody().count
        for _ in 0..<100 {
            _ = try await HTTPClient.send(port: s.port, method: "POST", target: RecordsWire.dockPath, headers: [("Authorization", "Bodycam-Ed25519 x")])
        }
        let grown = try s.custody().count - before
        // The first 60 are logged one by one; the rest are counted into the next refusal that is logged.
        #expect(grown == 60, "\(grown)") // the test clock stands still: no budget comes back meanwhile
        s.clock.advance(seconds: 10) // ten seconds on: room again
        _ = try await HTTPClient.send(port: s.port, method: "POST", target: RecordsWire.dockPath, headers: [("Authorization", "Bodycam-Ed25519 x")])
        let last = try #require(try s.custody().last)
        #expect(last.action == .refused && last.detail.contains("more refusal(s) since"), "\(last.detail) \(grown)")
    }
}
