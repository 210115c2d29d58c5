import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import BodycamCore
@testable import BodycamEvidence
@testable import BodycamLiveView

/// A camera run in-process with the live view on loopback (port 0), its script fed through a pipe the
/// test holds, as `bodycam run --http` wires it.
final class LiveViewRig: @unchecked Sendable {
    let storage: String
    let events = CollectingSink()
    let camera: CameraRuntime
    let device: DeviceRuntime
    let runner: ScriptRunner
    let server: LiveViewServer?
    let tap: LiveFrameTap?
    private let scriptWrite: Int32
    private let scriptRead: Int32
    private let done = DispatchSemaphore(value: 0)

    var port: Int { server?.port ?? 0 }

    /// - liveView: false for the same camera without a live view (the reference run).
    init(clock: CameraClock, width: Int = 320, height: Int = 240, fps: Int = 15, liveView: Bool = true,
         limits: LiveViewServer.Limits = .init(), name: String = #function) throws {
        storage = TestSupport.temporaryDirectory(name)
        var settings = CameraSettings()
        settings.width = width
        settings.height = height
        settings.fps = fps
        settings.storage = storage
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TestError("pipe: \(errno)") }
        (scriptRead, scriptWrite) = (fds[0], fds[1])
        let status = LiveStatusBoard()
        let control = RemoteControl()
        var sink: EventSink = events
        if liveView {
            let tap = LiveFrameTap(capacity: settings.geometry.maxEncodedFrameBytes)
            let fanOut = EventFanOut(base: events, maxSubscribers: LiveViewServer.Limits().eventSubscribers)
            server = try LiveViewServer.start(address: LiveViewAddress(host: "127.0.0.1", port: 0),
                                              camera: .init(tap: tap, events: fanOut, status: status, control: control,
                                                            fps: fps, deviceID: settings.deviceID),
                                              limits: limits, executor: TestTaskExecutor.shared)
            self.tap = tap
            sink = fanOut
        } else {
            server = nil
            tap = nil
        }
        camera = try CameraRuntime(settings: settings, clock: clock, events: sink)
        camera.path.liveTap = tap
        device = DeviceRuntime(camera: camera, config: DeviceConfig(), batteryPercent: 100, storageCapacity: 1 << 32,
                               statsEvery: 0, liveStatus: status)
        runner = ScriptRunner(device: device, reader: LineReader(fd: scriptRead), stop: { false },
                              remote: liveView ? control : nil, runsPastEndOfInput: liveView)
    }

    /// Runs the camera on a thread of its own until `quit`.
    func start() {
        let box = RuntimeTests.UncheckedBox(runner)
        Thread.detachNewThread { [done] in
            box.value.run()
            done.signal()
        }
    }

    /// Runs the camera and waits until it is `ready` (booted, and the runner takes lines from the page).
    func startAndWaitUntilReady() throws {
        start()
        guard Self.eventually(30, { events.events("state").contains { RuntimeTests.string($0, "to") == "ready" } }) else {
            throw TestError("the camera did not become ready")
        }
    }

    /// A script line, as if typed.
    func type(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(scriptWrite, $0.baseAddress, $0.count) }
    }

    /// Waits for the run to end (after `quit`); throws if it hangs.
    func waitForEnd(seconds: Double = 60) throws {
        guard done.wait(timeout: .now() + seconds) == .success else {
            throw TestError("the camera did not stop within \(seconds) s")
        }
    }

    /// Quits (if still running), stops the server, closes the pipe.
    func finish() throws {
        type("quit")
        try waitForEnd()
        server?.stop()
        close(scriptWrite)
        close(scriptRead)
    }

    /// Polls `condition` every 20 ms for up to `seconds`.
    static func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

/// A plain blocking HTTP/1.1 client on POSIX sockets: the tests choose every header (a hostile Host, a
/// foreign Origin) and can stop reading (a stalled viewer), which no library client allows.
enum RawHTTP {
    struct Reply {
        var status: Int
        var headers: [String: String] // lower-cased names
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// A connected socket to 127.0.0.1:`port`; `receiveBuffer` set before connecting (a small window).
    static func connect(port: Int, receiveBuffer: Int32? = nil, timeoutSeconds: Int = 10) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError("socket: \(errno)") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw TestError("connect to \(port): \(errno)")
        }
        return fd
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n <= 0 { return }
            done += n
        }
    }

    static func head(method: String, path: String, port: Int, host: String? = nil, headers: [(String, String)] = [],
                     body: [UInt8] = []) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        if method == "POST" { text += "Content-Length: \(body.count)\r\n" }
        return Array((text + "\r\n").utf8) + body
    }

    /// Reads until `limit` bytes, the end of the stream, or a timeout.
    static func read(_ fd: Int32, limit: Int, until stop: ([UInt8]) -> Bool = { _ in false }) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, limit - out.count)) }
            if n <= 0 { break }
            out += chunk[0..<n]
            if stop(out) { break }
        }
        return out
    }

    /// Splits a response into status, headers and what followed the head.
    static func parse(_ bytes: [UInt8]) throws -> Reply {
        guard let end = find(Array("\r\n\r\n".utf8), in: bytes) else { throw TestError("no complete response head: \(String(decoding: bytes.prefix(200), as: UTF8.self))") }
        let lines = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw TestError("bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Reply(status: status, headers: headers, body: Array(bytes[(end + 4)...]))
    }

    /// One request on its own connection, read to the end (Connection: close).
    static func request(_ method: String, _ path: String, port: Int, host: String? = nil, headers: [(String, String)] = [],
                        body: [UInt8] = []) throws -> Reply {
        let fd = try connect(port: port)
        defer { close(fd) }
        send(fd, head(method: method, path: path, port: port, host: host, headers: headers, body: body))
        return try parse(read(fd, limit: 8 << 20))
    }

    /// The payload of a chunked body (what has come of it: a last chunk cut short is kept as far as it goes).
    static func dechunk(_ body: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var at = 0
        while at < body.count, let lineEnd = find(Array("\r\n".utf8), in: body, from: at) {
            guard let size = Int(String(decoding: body[at..<lineEnd], as: UTF8.self), radix: 16) else {
                throw TestError("bad chunk size at \(at): \(String(decoding: body[at..<min(body.count, at + 20)], as: UTF8.self))")
            }
            if size == 0 { break }
            let start = lineEnd + 2, end = min(body.count, start + size)
            out += body[start..<end]
            at = end + 2
        }
        return out
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int = 0) -> Int? {
        guard hay.count >= needle.count, from <= hay.count - needle.count else { return nil }
        var i = from
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
