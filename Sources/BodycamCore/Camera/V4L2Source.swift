import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// A real camera through V4L2 mmap streaming: negotiate a format (MJPEG when the camera has it, else
/// YUYV, else I420), set the frame rate, then REQBUFS, QUERYBUF + mmap, QBUF all, STREAMON; each frame is
/// poll + DQBUF, handed over in place (no copy), and QBUF'd back by `releaseFrame`.
///
/// Error policy (one place): EINTR is retried, EAGAIN means "poll again", a buffer flagged
/// V4L2_BUF_FLAG_ERROR is a damaged frame (dropped and counted by the frame path), a gap in `sequence`
/// is frames the driver dropped (counted), ENODEV/EIO or a silent device is `deviceLost`.
public final class V4L2Source: FrameSource {
    public struct Request: Equatable, Sendable {
        public var width: Int
        public var height: Int
        public var fps: Int
        /// nil: the best the camera offers (MJPEG, then YUYV, then I420, then NV12).
        public var format: PixelFormat?
        public init(width: Int, height: Int, fps: Int, format: PixelFormat? = nil) {
            self.width = width
            self.height = height
            self.fps = fps
            self.format = format
        }
    }

    public let path: String
    public let request: Request
    public private(set) var geometry: FrameGeometry
    public private(set) var frameInterval: Nanos
    public private(set) var capabilities: V4L2Capabilities
    public var nextFrameDue: Nanos? { nil }

    private let device: V4L2Device
    private let clockOrigin: Nanos
    private let clock: CameraClock
    private var fd: Int32
    private var buffers: [(address: UnsafeMutableRawPointer, length: Int)] = []
    /// The mmapped buffers are mapped read-write: the frame path stamps a frame in its buffer before the
    /// buffer is queued again.
    public var framesAreWritable: Bool { true }
    /// Buffers dequeued and not yet queued again.
    private var out = 0
    private var lastSequence: UInt32?
    private var sequenceBase: UInt64 = 0
    /// Buffers asked of the driver: the frames the encoders may hold, and two the driver fills meanwhile.
    public var bufferCount: UInt32 { UInt32(max(4, framesOut + 2)) }
    private let framesOut: Int
    /// What the encoders may hold, and never all the buffers the driver granted: one always stays queued.
    public var framesOutLimit: Int { buffers.isEmpty ? framesOut : max(1, min(framesOut, buffers.count - 1)) }
    /// No frame for this long means the camera is gone.
    public static let silenceLimit: Int32 = 2000

    /// Opens and configures the camera. Throws `unusable` with one clear sentence when it cannot be.
    /// - Parameter framesOut: frames the frame path may hold at once (its encoder workers).
    public init(path: String, request: Request, clock: CameraClock, device: V4L2Device = HALV4L2(),
                framesOut: Int = 1) throws(FrameSourceError) {
        self.path = path
        self.framesOut = max(1, min(framesOut, 30))
        self.request = request
        self.device = device
        self.clock = clock
        clockOrigin = (clock as? MonotonicClock)?.origin ?? 0
        switch device.open(path) {
        case .failure(let e): throw .unusable("\(path): cannot open: \(e)")
        case .success(let f): fd = f
        }
        do {
            (capabilities, geometry, frameInterval) = try Self.configure(device, fd, path: path, request: request)
        } catch {
            device.close(fd)
            throw error
        }
    }

    deinit { stop() }

    static func configure(_ device: V4L2Device, _ fd: Int32, path: String, request: Request) throws(FrameSourceError)
        -> (V4L2Capabilities, FrameGeometry, Nanos) {
        guard case .success(let caps) = device.capabilities(fd) else { throw .unusable("\(path): not a V4L2 device") }
        guard caps.canCapture && caps.canStream else {
            throw .unusable("\(path) (\(caps.card)): not a video capture device with streaming I/O")
        }
        var offered: [UInt32] = []
        var i: UInt32 = 0
        while case .success(let f) = device.format(fd, index: i) { offered.append(f.fourcc); i += 1 }
        let wanted: [(UInt32, PixelFormat)]
        switch request.format {
        case .mjpeg?: wanted = [(FourCC.mjpeg, .mjpeg), (FourCC.jpeg, .mjpeg)]
        case .yuyv?: wanted = [(FourCC.yuyv, .yuyv)]
        case .i420?: wanted = [(FourCC.i420, .i420)]
        case .nv12?: wanted = [(FourCC.nv12, .nv12)]
        case nil: wanted = [(FourCC.mjpeg, .mjpeg), (FourCC.jpeg, .mjpeg), (FourCC.yuyv, .yuyv), (FourCC.i420, .i420),
                            (FourCC.nv12, .nv12)]
        }
        guard let (fourcc, format) = wanted.first(where: { offered.contains($0.0) }) else {
            throw .unusable("\(path) (\(caps.card)): offers \(offered.map(FourCC.text).joined(separator: ", ")); "
                            + "bodycam takes \(wanted.map { FourCC.text($0.0) }.joined(separator: ", "))")
        }
        guard case .success(let f) = device.setFormat(fd, fourcc: fourcc, width: request.width, height: request.height),
              f.fourcc == fourcc else {
            throw .unusable("\(path): the camera refused \(FourCC.text(fourcc)) \(request.width)x\(request.height)")
        }
        guard f.width >= 16, f.height >= 16, f.width % 2 == 0, f.height % 2 == 0 else {
            throw .unusable("\(path): the camera chose an unusable size \(f.width)x\(f.height)")
        }
        var interval = Nanos.perSecond / Nanos(max(request.fps, 1))
        if case .success(let t) = device.setInterval(fd, num: 1, den: request.fps), t.num > 0, t.den > 0 {
            interval = Nanos(t.num) * Nanos.perSecond / Nanos(t.den)
        }
        let geometry = FrameGeometry(width: f.width, height: f.height, format: format,
                                     stride: format == .mjpeg ? nil : f.bytesPerLine)
        return (caps, geometry, interval)
    }

    public var fps: Int { Int((Nanos.perSecond + frameInterval / 2) / frameInterval) }

    public func start() throws(FrameSourceError) {
        if fd < 0 {
            // Reopen after sleep, docking or a lost camera.
            switch device.open(path) {
            case .failure(let e): throw .deviceLost("\(path): \(e)")
            case .success(let f): fd = f
            }
            let (_, g, _) = try Self.configure(device, fd, path: path, request: request)
            guard g == geometry else { stop(); throw .unusable("\(path): the camera came back with another format") }
        }
        lastSequence = nil
        guard case .success(let granted) = device.requestBuffers(fd, count: bufferCount), granted >= 2 else {
            stop(); throw .deviceLost("\(path): no capture buffers")
        }
        for index in 0..<granted {
            guard case .success(let q) = device.queryBuffer(fd, index: index),
                  case .success(let address) = device.map(fd, offset: q.offset, length: q.length) else {
                stop(); throw .deviceLost("\(path): cannot map buffer \(index)")
            }
            buffers.append((address, q.length))
            if case .failure(let e) = retryingEINTR({ device.queue(fd, index: index) }) {
                stop(); throw .deviceLost("\(path): QBUF: \(e)")
            }
        }
        if case .failure(let e) = retryingEINTR({ device.stream(fd, on: true) }) {
            stop(); throw .deviceLost("\(path): STREAMON: \(e)")
        }
    }

    public func nextFrame() throws(FrameSourceError) -> CapturedFrame? {
        guard fd >= 0 else { throw .deviceLost("\(path): not streaming") }
        var silent = 0
        while true {
            switch device.poll(fd, timeoutMilliseconds: 1000) {
            case .failure(let e) where e.code == EINTR: continue
            case .failure(let e): throw .deviceLost("\(path): \(e)")
            case .success(false):
                silent += 1000
                if silent >= Self.silenceLimit { throw .deviceLost("\(path): no frame for \(silent / 1000) s") }
                continue
            case .success(true): break
            }
            switch device.dequeue(fd) {
            case .failure(let e) where e.code == EINTR || e.code == EAGAIN: continue
            case .failure(let e): throw .deviceLost("\(path): \(e)")
            case .success(let b):
                guard Int(b.index) < buffers.count else { throw .deviceLost("\(path): driver returned buffer \(b.index)") }
                out += 1
                // 32-bit sequence numbers wrap; the frame path sees a 64-bit count.
                if let last = lastSequence, b.sequence < last, last - b.sequence > 1 << 31 { sequenceBase += 1 << 32 }
                lastSequence = b.sequence
                let mono = b.timestampNanos > 0 ? b.timestampNanos - clockOrigin : clock.now
                let length = min(b.bytesUsed > 0 ? b.bytesUsed : buffers[Int(b.index)].length, buffers[Int(b.index)].length)
                return CapturedFrame(bytes: UnsafeRawBufferPointer(start: buffers[Int(b.index)].address, count: length),
                                     mono: mono, sequence: sequenceBase + UInt64(b.sequence), isDamaged: b.damaged,
                                     buffer: Int(b.index))
            }
        }
    }

    public func releaseFrame(_ frame: CapturedFrame) {
        guard out > 0, fd >= 0, frame.buffer >= 0, frame.buffer < buffers.count else { return }
        out -= 1
        // A failure here shows up as the next poll or DQBUF failing.
        _ = retryingEINTR { device.queue(fd, index: UInt32(frame.buffer)) }
    }

    public func stop() {
        guard fd >= 0 else { return }
        _ = device.stream(fd, on: false)
        for b in buffers { device.unmap(b.address, length: b.length) }
        buffers = []
        out = 0
        _ = device.requestBuffers(fd, count: 0)
        device.close(fd)
        fd = -1
    }

    private func retryingEINTR<T>(_ call: () -> Result<T, Errno>) -> Result<T, Errno> {
        while true {
            let r = call()
            if case .failure(let e) = r, e.code == EINTR { continue }
            return r
        }
    }
}

/// What `bodycam devices` prints: each capture node with its formats, sizes and rates.
public enum V4L2Catalog {
    /// The node's description; throws `unusable` with the reason (the errno's text) when the path cannot be
    /// opened or is not a V4L2 device.
    public static func describe(path: String, device: V4L2Device = HALV4L2()) throws(FrameSourceError) -> String {
        let fd: Int32
        switch device.open(path) {
        case .failure(let e): throw .unusable("\(path): cannot open: \(e)")
        case .success(let f): fd = f
        }
        defer { device.close(fd) }
        let caps: V4L2Capabilities
        switch device.capabilities(fd) {
        case .failure(let e): throw .unusable("\(path): not a V4L2 device: \(e)")
        case .success(let c): caps = c
        }
        var lines = ["\(path): \(caps.card) (driver \(caps.driver), \(caps.bus))\(caps.canCapture ? "" : " - not a capture device")"]
        guard caps.canCapture else { return lines.joined(separator: "\n") }
        var i: UInt32 = 0
        while case .success(let f) = device.format(fd, index: i) {
            lines.append("  \(FourCC.text(f.fourcc))  \(f.description)")
            var j: UInt32 = 0
            while case .success(let s) = device.size(fd, fourcc: f.fourcc, index: j) {
                var rates: [String] = []
                var k: UInt32 = 0
                while case .success(let t) = device.interval(fd, fourcc: f.fourcc, width: s.width, height: s.height, index: k), k < 16 {
                    rates.append(t.num == 1 ? "\(t.den)" : String(format2(Double(t.den) / Double(t.num))))
                    k += 1
                }
                lines.append("    \(s.width)x\(s.height)\(s.isRange ? " (largest of a range)" : "")  fps: \(rates.joined(separator: ", "))")
                j += 1
                if s.isRange { break }
            }
            i += 1
        }
        return lines.joined(separator: "\n")
    }

    static func format2(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    /// /dev/video* nodes, in order.
    public static func nodes() -> [String] {
        PosixFile.list("/dev").filter { $0.hasPrefix("video") }
            .sorted { (Int($0.dropFirst(5)) ?? 0) < (Int($1.dropFirst(5)) ?? 0) }.map { "/dev/" + $0 }
    }
}
