import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import BodycamCore
@testable import BodycamEvidence
@testable import BodycamLiveView

/// The live view (`bodycam run --http`) in-process: routes, limits, hostile requests, the stream's JPEGs,
/// the event stream, control through the page, and a stalled viewer against the frame path.
@Suite(.serialized) struct LiveViewTests {
    // MARK: - Addresses and guards (no server)

    @Test func addressParsing() throws {
        #expect(try LiveViewAddress.parse("8080").get() == LiveViewAddress(host: "127.0.0.1", port: 8080))
        #expect(try LiveViewAddress.parse("0.0.0.0:80").get() == LiveViewAddress(host: "0.0.0.0", port: 80))
        #expect(try LiveViewAddress.parse("[::1]:9").get() == LiveViewAddress(host: "::1", port: 9))
        #expect(try LiveViewAddress.parse("localhost:0").get() == LiveViewAddress(host: "127.0.0.1", port: 0))
        for bad in ["", "camera.example:80", "99999", "::1:80", "1.2.3.4", "1.2.3.4:", "1.2.3.4:8x", "[::1]80", "-1", "1.2.3.999:80"] {
            #expect(throws: LiveViewAddressError.self, "\(bad)") { try LiveViewAddress.parse(bad).get() }
        }
        #expect(LiveViewAddress(host: "127.0.0.1", port: 1).isLoopback)
        #expect(!LiveViewAddress(host: "192.168.1.2", port: 1).isLoopback)
    }

    @Test func hostCheckAcceptsOnlyThisServersNames() {
        let loopback = RequestGuard<LiveViewContext>(address: LiveViewAddress(host: "127.0.0.1", port: 0), port: BoundPort(8080))
        for ok in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"] { #expect(loopback.allows(authority: ok), "\(ok)") }
        for bad in ["evil.example:8080", "127.0.0.1:8081", "127.0.0.1", "localhost", "127.0.0.1:80x", "", "[::1]", "192.168.1.2:8080"] {
            #expect(!loopback.allows(authority: bad), "\(bad)")
        }
        let wildcard = RequestGuard<LiveViewContext>(address: LiveViewAddress(host: "0.0.0.0", port: 8080), port: BoundPort(8080))
        #expect(wildcard.allows(authority: "192.168.1.2:8080"))
        #expect(!wildcard.allows(authority: "rebound.example:8080"))
    }

    @Test func controlAcceptsOnlyWhatAPersonDoes() {
        let route = ControlRoute(control: RemoteControl(), maxBodyBytes: 256, bodySeconds: 10)
        // Not running: a valid command is not lost silently.
        #expect(route.submit(Array("press record".utf8)).status == .serviceUnavailable)
        #expect(route.submit(Array("jump".utf8)).status == .badRequest)
        #expect(route.submit(Array("wait 1s".utf8)).status == .forbidden)
        #expect(route.submit(Array("fault disk-full".utf8)).status == .forbidden)
        #expect(route.submit(Array("hold record 5m".utf8)).status == .badRequest)
        #expect(route.submit(Array("press record\npress record".utf8)).status == .badRequest)
        #expect(route.submit([0xFF, 0xFE]).status == .badRequest)
        #expect(route.submit(Array("".utf8)).status == .badRequest)
    }

    // MARK: - The command line

    @Test func httpRefusesTheVirtualClockAndAPortInUse() throws {
        let virtual = try TestSupport.bodycam(["run", "--http", "8080", "--clock", "virtual"])
        #expect(virtual.status == 64)
        #expect(virtual.stderr.contains("--http needs the real clock"))
        #expect(virtual.stderr.split(separator: "\n").count == 1)
        let taken = TestSupport.loopbackListener()
        defer { close(taken.fd) }
        let storage = TestSupport.temporaryDirectory() + "/storage"
        let inUse = try TestSupport.bodycam(["run", "--http", "127.0.0.1:\(taken.port)", "-o", storage])
        #expect(inUse.status == 2)
        #expect(inUse.stderr.contains("already in use"), "\(inUse.stderr)")
        #expect(inUse.events.isEmpty, "nothing started: \(inUse.stdout)")
        #expect(!FileManager.default.fileExists(atPath: storage), "the camera never booted on the storage")
    }

    // MARK: - Routes against a running camera (real clock)

    @Test func routesRefuseHostileRequests() throws {
        let rig = try LiveViewRig(clock: MonotonicClock())
        try rig.startAndWaitUntilReady()
        defer { try? rig.finish() }
        let port = rig.port
        let page = try RawHTTP.request("GET", "/", port: port)
        #expect(page.status == 200)
        #expect(page.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(page.text.contains("/stream.mjpg") && page.text.contains("EventSource"))
        // DNS rebinding: the same socket, another site's name.
        let rebound = try RawHTTP.request("GET", "/status.json", port: port, host: "evil.example:\(port)")
        #expect(rebound.status == 421)
        // CSRF: another site's page posting through the browser.
        let foreign = try RawHTTP.request("POST", "/control", port: port, headers: [("Origin", "http://evil.example")],
                                          body: Array("press record".utf8))
        #expect(foreign.status == 403)
        let same = try RawHTTP.request("POST", "/control", port: port, headers: [("Origin", "http://127.0.0.1:\(port)")],
                                       body: Array("status".utf8))
        #expect(same.status == 202)
        let oversize = try RawHTTP.request("POST", "/control", port: port, body: Array(repeating: UInt8(ascii: "a"), count: 300))
        #expect(oversize.status == 413)
        let unknown = try RawHTTP.request("POST", "/control", port: port, body: Array("jump high".utf8))
        #expect(unknown.status == 400)
        guard case .failure(let parserError) = ScriptParser.parse("jump high") else { Issue.record("the parser took 'jump high'"); return }
        #expect(unknown.text.contains(parserError.message))
        let scriptOnly = try RawHTTP.request("POST", "/control", port: port, body: Array("battery 5".utf8))
        #expect(scriptOnly.status == 403)
        let status = try RawHTTP.request("GET", "/status.json", port: port)
        #expect(status.status == 200)
        let json = try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any]
        #expect(json?["event"] as? String == "live-status")
        #expect(json?["live_viewers"] != nil)
        // The `status` line from the page was carried out like a typed one.
        #expect(LiveViewRig.eventually { !rig.events.events("status").isEmpty })
    }

    @Test func fifthViewerIsRefusedAndStreamPartsAreJPEGs() throws {
        let rig = try LiveViewRig(clock: MonotonicClock())
        try rig.startAndWaitUntilReady()
        defer { try? rig.finish() }
        let port = rig.port
        var viewers: [Int32] = []
        defer { for fd in viewers { close(fd) } }
        var firstStream: [UInt8] = []
        for i in 0..<4 {
            let fd = try RawHTTP.connect(port: port)
            viewers.append(fd)
            RawHTTP.send(fd, RawHTTP.head(method: "GET", path: "/stream.mjpg", port: port))
            // Until three whole parts are in (the head and three boundaries after them).
            let bytes = RawHTTP.read(fd, limit: 4 << 20) { b in
                i > 0 ? RawHTTP.find(Array("\r\n\r\n".utf8), in: b) != nil : Self.boundaries(in: b) >= 4
            }
            let reply = try RawHTTP.parse(bytes)
            #expect(reply.status == 200)
            #expect(reply.headers["content-type"] == "multipart/x-mixed-replace; boundary=bodycamframe")
            #expect(reply.headers["transfer-encoding"] == "chunked")
            if i == 0 { firstStream = try RawHTTP.dechunk(reply.body) }
        }
        let fifth = try RawHTTP.request("GET", "/stream.mjpg", port: port)
        #expect(fifth.status == 503)
        #expect(fifth.headers["retry-after"] != nil)

        let parts = try Self.parts(firstStream)
        #expect(parts.count >= 3)
        let dir = rig.storage + "-parts"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (i, jpeg) in parts.enumerated() {
            #expect(jpeg.prefix(2) == [0xFF, 0xD8] && jpeg.suffix(2) == [0xFF, 0xD9], "part \(i) is a whole JPEG")
            #expect(JPEGMarkers.comments(jpeg).contains { FrameStamp.parse($0) != nil }, "part \(i) carries the camera's stamp, as recorded")
        }
        // An independent decoder takes them.
        let path = dir + "/part.jpg"
        try Data(parts[1]).write(to: URL(fileURLWithPath: path))
        let probe = try TestSupport.run(TestSupport.tool("ffprobe"), ["-v", "error", "-show_entries", "stream=codec_name,width,height",
                                                                       "-of", "csv=p=0", path])
        #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "mjpeg,320,240")
        #expect(try TestSupport.ffmpegDecodeErrors(path) == "")

        // A snapshot is a frame too.
        let snapshot = try RawHTTP.request("GET", "/snapshot.jpg", port: port)
        #expect(snapshot.status == 200)
        #expect(snapshot.headers["content-type"] == "image/jpeg")
        #expect(snapshot.body.prefix(2) == [0xFF, 0xD8] && snapshot.body.suffix(2) == [0xFF, 0xD9])
        // Viewers gone, their slots are free again.
        for fd in viewers { close(fd) }
        viewers = []
        #expect(LiveViewRig.eventually { rig.tap?.counters.viewers == 0 })
        let again = try RawHTTP.connect(port: port)
        defer { close(again) }
        RawHTTP.send(again, RawHTTP.head(method: "GET", path: "/stream.mjpg", port: port))
        let head = try RawHTTP.parse(RawHTTP.read(again, limit: 1 << 20) { RawHTTP.find(Array("\r\n\r\n".utf8), in: $0) != nil })
        #expect(head.status == 200)
    }

    @Test func eventStreamDeliversEventsAndStatus() throws {
        let rig = try LiveViewRig(clock: MonotonicClock())
        try rig.startAndWaitUntilReady()
        defer { try? rig.finish() }
        let port = rig.port
        let fd = try RawHTTP.connect(port: port)
        defer { close(fd) }
        RawHTTP.send(fd, RawHTTP.head(method: "GET", path: "/events", port: port))
        let first = RawHTTP.read(fd, limit: 1 << 20) { String(decoding: $0, as: UTF8.self).contains("live-status") }
        let reply = try RawHTTP.parse(first)
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"] == "text/event-stream")
        _ = try RawHTTP.request("POST", "/control", port: port, body: Array("trigger holster".utf8))
        let more = RawHTTP.read(fd, limit: 1 << 20) { b in
            let t = reply.text + String(decoding: b, as: UTF8.self)
            return t.contains(#""event":"recording""#) && t.components(separatedBy: "live-status").count > 3
        }
        let stream = String(decoding: try RawHTTP.dechunk(reply.body + more), as: UTF8.self)
        let lines = stream.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == lines.count, "every data line is one JSON object")
        #expect(objects.contains { $0["event"] as? String == "recording" && $0["trigger"] as? String == "holster" })
        #expect(objects.contains { $0["event"] as? String == "live-status" && $0["state"] as? String == "recording" })
        // The same JSON as stdout gets.
        let started = try #require(rig.events.events("recording").first)
        #expect(lines.contains(started.jsonLine))
    }

    @Test func pressingRecordTwiceOnThePageRecords() throws {
        let rig = try LiveViewRig(clock: MonotonicClock())
        try rig.startAndWaitUntilReady()
        let port = rig.port
        // What the page sends for two quick clicks, one request after the other.
        for line in ["down record", "up record", "down record", "up record"] {
            let r = try RawHTTP.request("POST", "/control", port: port, headers: [("Content-Type", "text/plain")], body: Array(line.utf8))
            #expect(r.status == 202, "\(line): \(r.text)")
        }
        #expect(LiveViewRig.eventually { !rig.events.events("recording").isEmpty })
        #expect(rig.events.events("gesture").contains { RuntimeTests.string($0, "gesture") == "double" })
        #expect(rig.events.events("error").isEmpty, "\(rig.events.events("error").map(\.jsonLine))")
        usleep(500_000)
        try rig.finish()
        #expect(!TestSupport.segments(in: rig.storage).isEmpty, "a recording is in storage")
    }

    /// A viewer that stops reading is closed once a write has waited the deadline, and its slot is free.
    @Test func viewerThatStopsReadingIsClosed() throws {
        var limits = LiveViewServer.Limits()
        limits.deadlineSeconds = 1
        let rig = try LiveViewRig(clock: MonotonicClock(), width: 640, height: 480, fps: 30, limits: limits)
        try rig.startAndWaitUntilReady()
        defer { try? rig.finish() }
        let fd = try RawHTTP.connect(port: rig.port, receiveBuffer: 4096)
        defer { close(fd) }
        RawHTTP.send(fd, RawHTTP.head(method: "GET", path: "/stream.mjpg", port: rig.port))
        #expect(LiveViewRig.eventually { rig.tap?.counters.viewers == 1 })
        // Never read: the socket fills, a write waits, the deadline closes the connection (well before the
        // default 10 s, so this fails if the deadline is not applied).
        #expect(LiveViewRig.eventually(8) { rig.tap?.counters.viewers == 0 }, "the stalled viewer is still connected: \(String(describing: rig.tap?.counters))")
        #expect(rig.camera.framesDropped == 0)
    }

    /// A request head dribbled byte by byte (slowloris) holds a connection for the deadline only.
    @Test func slowRequestHeadIsClosedAtTheDeadline() throws {
        var limits = LiveViewServer.Limits()
        limits.deadlineSeconds = 1
        let rig = try LiveViewRig(clock: MonotonicClock(), limits: limits)
        try rig.startAndWaitUntilReady()
        defer { try? rig.finish() }
        let fd = try RawHTTP.connect(port: rig.port, timeoutSeconds: 8)
        defer { close(fd) }
        RawHTTP.send(fd, Array("GET / HTTP/1.1\r\nHost: 127.0.0.1".utf8))
        var byte: UInt8 = 0
        let n = read(fd, &byte, 1)
        let why = errno
        // 0: closed by the server; -1 with EAGAIN would be the 8 s receive timeout: not closed.
        #expect(n == 0, "the connection was not closed (read \(n), errno \(why))")
    }

    // MARK: - The frame path never waits for a viewer

    /// A viewer connects and never reads (a small receive window) while the camera runs on the virtual
    /// clock, its script paced so the viewer's socket fills up during the run: every frame due is still
    /// captured and stored, nothing dropped, the viewer skipped frames, and the recording is byte for
    /// byte the one the same script makes without any live view.
    @Test func stalledViewerDoesNotSlowCapture() throws {
        let script = ["wait 2s", "double record"] + Array(repeating: "wait 500ms", count: 40) + ["hold record 3s", "wait 1s"]

        let watched = try LiveViewRig(clock: VirtualClock(), name: "stalled-viewer")
        let port = watched.port
        let viewer = try RawHTTP.connect(port: port, receiveBuffer: 4096)
        defer { close(viewer) }
        RawHTTP.send(viewer, RawHTTP.head(method: "GET", path: "/stream.mjpg", port: port))
        #expect(LiveViewRig.eventually { watched.tap?.counters.viewers == 1 })
        watched.start()
        for line in script {
            watched.type(line)
            usleep(100_000) // 4 s of wall time in all: the viewer sends, then its socket is full
        }
        watched.type("quit")
        try watched.waitForEnd()
        let stats = try #require(watched.events.events("stats").last)
        watched.server?.stop()
        let tap = try #require(watched.tap?.counters)

        let plain = try LiveViewRig(clock: VirtualClock(), liveView: false, name: "no-viewer")
        plain.start()
        for line in script { plain.type(line) }
        try plain.finish()
        let plainStats = try #require(plain.events.events("stats").last)

        // 2 + 20 + 0.3 (double) + 3 + 1 s of camera time at 15 fps, before and after the recording alike.
        #expect(RuntimeTests.int(stats, "frames_captured") == RuntimeTests.int(plainStats, "frames_captured"))
        #expect(RuntimeTests.int(stats, "frames_stored") == RuntimeTests.int(stats, "frames_captured"))
        #expect(watched.camera.framesDropped == 0)
        #expect(RuntimeTests.int(stats, "dropped_ring_full") == 0)
        #expect(RuntimeTests.int(stats, "live_frames_published") ?? 0 > 0)
        #expect(tap.published > 0)
        #expect(tap.viewerSkipped > 0, "a viewer slower than the camera skips frames: \(tap)")
        #expect(tap.published - tap.viewerSkipped < tap.published / 2, "the stalled viewer sent few of them: \(tap)")
        #expect(plainStats["live_frames_published"] == nil, "no live view, no live counters")

        let a = TestSupport.segments(in: watched.storage), b = TestSupport.segments(in: plain.storage)
        #expect(!a.isEmpty)
        #expect(a.map { ($0 as NSString).lastPathComponent } == b.map { ($0 as NSString).lastPathComponent })
        for (x, y) in zip(a, b) {
            #expect(FileManager.default.contentsEqual(atPath: x, andPath: y), "\(x) differs from the run without a viewer")
        }
    }

    // MARK: - Helpers

    static func boundaries(in bytes: [UInt8]) -> Int {
        var n = 0, at = 0
        let b = Array("--bodycamframe".utf8)
        while let i = RawHTTP.find(b, in: bytes, from: at) {
            n += 1
            at = i + b.count
        }
        return n
    }

    /// The JPEGs of a multipart body, each checked against its own Content-Length.
    static func parts(_ body: [UInt8]) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var at = 0
        let boundary = Array("--bodycamframe\r\n".utf8)
        while let b = RawHTTP.find(boundary, in: body, from: at), let headEnd = RawHTTP.find(Array("\r\n\r\n".utf8), in: body, from: b) {
            let head = String(decoding: body[(b + boundary.count)..<headEnd], as: UTF8.self).lowercased()
            guard head.contains("content-type: image/jpeg"),
                  let lengthLine = head.components(separatedBy: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                  let length = Int(lengthLine.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else {
                throw TestError("a part without its headers: \(head)")
            }
            let start = headEnd + 4
            guard start + length + 2 <= body.count else { break } // the last part, cut short by the read
            out.append(Array(body[start..<(start + length)]))
            #expect(Array(body[(start + length)..<(start + length + 2)]) == Array("\r\n".utf8))
            at = start + length
        }
        return out
    }
}
