import BodycamEvidence
import Foundation
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

/// The per-request read deadline (`RecordsServer.requestHeadSeconds`, `minimumBodyBytesPerSecond`): what a
/// slow client loses and what a legitimate one keeps. The waits are the service's real deadline; the time
/// limits only turn a hang into a failure.
@Suite struct RequestDeadlineTests {
    static let head = Int(RecordsServer.requestHeadSeconds)
    /// Longest wait for anything from the service: well past the deadline, however loaded the machine.
    static let patience = head + 20

    /// A body sent a byte every half second (2 bytes/s) is cut: 408, then the connection closed, well
    /// before the body is all sent, and nothing of it is stored.
    @Test func aBodyDribbledBelowTheMinimumRateIsCut() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        let (file, bytes) = r.segments[0]
        let head = Self.signedHead(device, "PUT", device.path(r.id, file) + "?offset=0", body: bytes)
        let port = s.port
        let outcome = try await Blocking.run {
            let c = RawConnection(port: port)
            defer { c.close() }
            c.send(head + bytes.prefix(16))
            return c.dribble(Array(bytes.dropFirst(16)), everyMilliseconds: 500, forSeconds: Self.patience)
        }
        #expect(outcome.ended, "still open after \(Self.patience) s")
        #expect(outcome.sent < bytes.count - 16)
        #expect(String(decoding: outcome.answer.prefix(12), as: UTF8.self) == "HTTP/1.1 408", "\(String(decoding: outcome.answer, as: UTF8.self))")
        #expect(!s.storedFiles.contains { $0.hasSuffix(file) })
    }

    /// A camera on a poor link: the head after half the deadline, then 512 KiB in 8 parts a second apart.
    /// The whole request takes longer than the head deadline but its body comes faster than the minimum
    /// rate: answered, stored.
    @Test func aSlowButLegitimateRequestIsNotCut() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        let file = r.segments[0].file
        var rng = SystemRandomNumberGenerator()
        let body = (0..<(512 << 10)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let head = Self.signedHead(device, "PUT", device.path(r.id, file) + "?offset=0", body: body)
        let port = s.port
        let reply = try await Blocking.run {
            let c = RawConnection(port: port)
            defer { c.close() }
            Thread.sleep(forTimeInterval: Double(Self.head) / 2)
            c.send(head)
            for part in 0..<8 {
                sleep(1)
                c.send(Array(body[(part * body.count / 8)..<((part + 1) * body.count / 8)]))
            }
            return c.readAnswer()
        }
        #expect(reply?.status == 200, "\(reply?.text ?? "no answer")")
        #expect(s.storedFiles.contains { $0.hasSuffix(file) })
    }

    /// Keep-alive: the second request straight after the first answer, then two more each after a pause
    /// of more than half the deadline (together longer than it: the clock restarts at each answer's end).
    @Test func aKeptAliveConnectionAnswersItsNextRequests() async throws {
        let (s, _) = try await serviceWithDevice()
        defer { s.stop() }
        let token = try s.service.addUser(name: "sarge", role: .supervisor, officer: nil)
        let request = Array("GET /v1/recordings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8)
        let port = s.port
        let statuses = try await Blocking.run {
            let c = RawConnection(port: port)
            defer { c.close() }
            return [0, 0, 0.6, 0.6].map { pause in
                Thread.sleep(forTimeInterval: Double(Self.head) * pause)
                c.send(request)
                return c.readAnswer()?.status ?? 0
            }
        }
        #expect(statuses == [200, 200, 200, 200])
    }

    /// A kept-alive connection that sends nothing after its answer is closed at the deadline, silently:
    /// a 408 there could be taken, by a client just reusing the connection, for the answer to its new
    /// request (the camera resends on a new connection only when nothing of an answer came).
    @Test func anIdleKeptAliveConnectionIsClosedWithoutAnAnswer() async throws {
        let (s, _) = try await serviceWithDevice()
        defer { s.stop() }
        let token = try s.service.addUser(name: "sarge", role: .supervisor, officer: nil)
        let port = s.port
        let (status, after) = try await Blocking.run {
            let c = RawConnection(port: port)
            defer { c.close() }
            c.send(Array("GET /v1/recordings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8))
            let status = c.readAnswer()?.status
            return (status, c.dribble([], everyMilliseconds: 500, forSeconds: Self.patience))
        }
        #expect(status == 200)
        #expect(after.ended, "still open after \(Self.patience) s")
        #expect(after.answer.isEmpty, "\(String(decoding: after.answer, as: UTF8.self))")
    }

    /// A request head signed by `device`, with its Content-Length; the body is sent separately.
    static func signedHead(_ device: TestDevice, _ method: String, _ target: String, body: [UInt8]) -> [UInt8] {
        let sig = body.withUnsafeBytes { RequestSignature.sign(device.identity, method: method, target: target, seq: device.nextSeq(), body: $0) }
        return Array("\(method) \(target) HTTP/1.1\r\nHost: x\r\nAuthorization: \(sig.header)\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
    }
}

/// One connection on a blocking socket, written and read at the test's own pace (run off the Swift
/// concurrency pool).
final class RawConnection {
    let fd: Int32
    private var inbox: [UInt8] = []
    /// The service closed (or reset) the connection; a timeout is not that.
    private(set) var ended = false

    init(port: Int) { fd = ReviewTests.connect(port: port, timeoutSeconds: RequestDeadlineTests.patience) }

    func close() { Glibc.close(fd) }

    /// Sends all of `bytes`; false when the connection refused them.
    @discardableResult func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// More bytes into `inbox`; false at the end of the connection (or a reset) or a timeout.
    private func receive() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { ended = true }
        if n <= 0 { return false }
        inbox.append(contentsOf: buffer[0..<n])
        return true
    }

    /// One answer with a Content-Length body; nil when the connection ends or times out first.
    func readAnswer() -> HTTPReply? {
        var split = inbox.firstRange(of: Array("\r\n\r\n".utf8))
        while split == nil {
            guard receive() else { return nil }
            split = inbox.firstRange(of: Array("\r\n\r\n".utf8))
        }
        guard let split else { return nil }
        let lines = String(decoding: inbox[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let fields = Dictionary(lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }, uniquingKeysWith: { a, _ in a })
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]), let length = Int(fields["content-length"] ?? "0") else { return nil }
        while inbox.count < split.upperBound + length {
            guard receive() else { return nil }
        }
        let body = Array(inbox[split.upperBound..<(split.upperBound + length)])
        inbox.removeFirst(split.upperBound + length)
        return HTTPReply(status: status, headers: fields, body: body)
    }

    /// Sends `bytes` one at a time every `everyMilliseconds` (then nothing) until the service closes the
    /// connection or `forSeconds` pass: what the service sent meanwhile, how many bytes went, and whether
    /// the connection ended (false: still open at the time limit).
    func dribble(_ bytes: [UInt8], everyMilliseconds: Int32, forSeconds: Int) -> (answer: [UInt8], sent: Int, ended: Bool) {
        let limit = Date().addingTimeInterval(TimeInterval(forSeconds))
        var sent = 0
        while Date() < limit {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, everyMilliseconds) > 0 {
                while receive() {}
                let answer = inbox
                inbox = []
                return (answer, sent, ended)
            }
            if sent < bytes.count, Glibc.send(fd, [bytes[sent]], 1, Int32(MSG_NOSIGNAL)) == 1 { sent += 1 }
        }
        return (inbox, sent, false)
    }
}
