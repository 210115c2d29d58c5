import CHAL
#if canImport(Glibc)
import Glibc
import BodycamEvidence
#endif

/// An errno from a V4L2 call.
public struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }
    public var description: String { String(cString: strerror(code)) + " (errno \(code))" }
}

public struct V4L2Capabilities: Equatable, Sendable {
    public var driver: String
    public var card: String
    public var bus: String
    public var canCapture: Bool
    public var canStream: Bool
}

public struct V4L2Format: Equatable, Sendable {
    public var fourcc: UInt32
    public var width: Int
    public var height: Int
    public var bytesPerLine: Int
    public var sizeImage: Int
}

public struct V4L2Buffer: Equatable, Sendable {
    public var index: UInt32
    public var bytesUsed: Int
    public var sequence: UInt32
    public var timestampNanos: Int64
    public var damaged: Bool
}

/// The system-call seam of the V4L2 camera: every device operation the camera uses, one V4L2 request
/// each (`HALV4L2` below calls the C shims in HAL/hal_v4l2.c). Tests put a simulated device behind it to
/// inject EINTR, EAGAIN, EIO, ENODEV, damaged buffers and sequence gaps, and to check the call order.
public protocol V4L2Device: AnyObject {
    func open(_ path: String) -> Result<Int32, Errno>
    func close(_ fd: Int32)
    func capabilities(_ fd: Int32) -> Result<V4L2Capabilities, Errno>
    func format(_ fd: Int32, index: UInt32) -> Result<(fourcc: UInt32, description: String), Errno>
    func size(_ fd: Int32, fourcc: UInt32, index: UInt32) -> Result<(width: Int, height: Int, isRange: Bool), Errno>
    func interval(_ fd: Int32, fourcc: UInt32, width: Int, height: Int, index: UInt32) -> Result<(num: Int, den: Int), Errno>
    func setFormat(_ fd: Int32, fourcc: UInt32, width: Int, height: Int) -> Result<V4L2Format, Errno>
    func setInterval(_ fd: Int32, num: Int, den: Int) -> Result<(num: Int, den: Int), Errno>
    func requestBuffers(_ fd: Int32, count: UInt32) -> Result<UInt32, Errno>
    func queryBuffer(_ fd: Int32, index: UInt32) -> Result<(offset: UInt32, length: Int), Errno>
    func map(_ fd: Int32, offset: UInt32, length: Int) -> Result<UnsafeMutableRawPointer, Errno>
    func unmap(_ address: UnsafeMutableRawPointer, length: Int)
    func queue(_ fd: Int32, index: UInt32) -> Result<Void, Errno>
    func dequeue(_ fd: Int32) -> Result<V4L2Buffer, Errno>
    func stream(_ fd: Int32, on: Bool) -> Result<Void, Errno>
    /// true: a frame (or an error DQBUF will report) is ready; false: timeout.
    func poll(_ fd: Int32, timeoutMilliseconds: Int32) -> Result<Bool, Errno>
}

/// The real device: libv4l2 through the HAL.
public final class HALV4L2: V4L2Device {
    public init() {}

    static func check(_ r: Int32) -> Result<Void, Errno> { r < 0 ? .failure(Errno(-r)) : .success(()) }

    public func open(_ path: String) -> Result<Int32, Errno> {
        let fd = hal_v4l2_open(path)
        return fd < 0 ? .failure(Errno(-fd)) : .success(fd)
    }
    public func close(_ fd: Int32) { _ = hal_v4l2_close(fd) }

    public func capabilities(_ fd: Int32) -> Result<V4L2Capabilities, Errno> {
        var c = hal_v4l2_caps()
        return Self.check(hal_v4l2_querycap(fd, &c)).map {
            func text<T>(_ t: T) -> String { withUnsafeBytes(of: t) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
            return V4L2Capabilities(driver: text(c.driver), card: text(c.card), bus: text(c.bus),
                                    canCapture: c.can_capture != 0, canStream: c.can_stream != 0)
        }
    }

    public func format(_ fd: Int32, index: UInt32) -> Result<(fourcc: UInt32, description: String), Errno> {
        var fourcc: UInt32 = 0
        var d = [CChar](repeating: 0, count: 32)
        return Self.check(hal_v4l2_enum_format(fd, index, &fourcc, &d)).map {
            (fourcc, String(decoding: d.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }

    public func size(_ fd: Int32, fourcc: UInt32, index: UInt32) -> Result<(width: Int, height: Int, isRange: Bool), Errno> {
        var w: UInt32 = 0, h: UInt32 = 0, range: Int32 = 0
        return Self.check(hal_v4l2_enum_size(fd, fourcc, index, &w, &h, &range)).map { (Int(w), Int(h), range != 0) }
    }

    public func interval(_ fd: Int32, fourcc: UInt32, width: Int, height: Int, index: UInt32) -> Result<(num: Int, den: Int), Errno> {
        var n: UInt32 = 0, d: UInt32 = 0
        return Self.check(hal_v4l2_enum_interval(fd, fourcc, UInt32(width), UInt32(height), index, &n, &d)).map { (Int(n), Int(d)) }
    }

    public func setFormat(_ fd: Int32, fourcc: UInt32, width: Int, height: Int) -> Result<V4L2Format, Errno> {
        var f = hal_v4l2_format()
        return Self.check(hal_v4l2_set_format(fd, fourcc, UInt32(width), UInt32(height), &f)).map {
            V4L2Format(fourcc: f.pixelformat, width: Int(f.width), height: Int(f.height),
                       bytesPerLine: Int(f.bytesperline), sizeImage: Int(f.sizeimage))
        }
    }

    public func setInterval(_ fd: Int32, num: Int, den: Int) -> Result<(num: Int, den: Int), Errno> {
        var n: UInt32 = 0, d: UInt32 = 0
        return Self.check(hal_v4l2_set_interval(fd, UInt32(num), UInt32(den), &n, &d)).map { (Int(n), Int(d)) }
    }

    public func requestBuffers(_ fd: Int32, count: UInt32) -> Result<UInt32, Errno> {
        var c = count
        return Self.check(hal_v4l2_request_buffers(fd, &c)).map { c }
    }

    public func queryBuffer(_ fd: Int32, index: UInt32) -> Result<(offset: UInt32, length: Int), Errno> {
        var o: UInt32 = 0, l: UInt32 = 0
        return Self.check(hal_v4l2_query_buffer(fd, index, &o, &l)).map { (o, Int(l)) }
    }

    public func map(_ fd: Int32, offset: UInt32, length: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        var err: Int32 = 0
        guard let p = hal_v4l2_map(fd, offset, UInt32(length), &err) else { return .failure(Errno(err)) }
        return .success(p)
    }

    public func unmap(_ address: UnsafeMutableRawPointer, length: Int) { _ = hal_v4l2_unmap(address, UInt32(length)) }
    public func queue(_ fd: Int32, index: UInt32) -> Result<Void, Errno> { Self.check(hal_v4l2_queue(fd, index)) }

    public func dequeue(_ fd: Int32) -> Result<V4L2Buffer, Errno> {
        var b = hal_v4l2_buffer()
        return Self.check(hal_v4l2_dequeue(fd, &b)).map {
            V4L2Buffer(index: b.index, bytesUsed: Int(b.bytesused), sequence: b.sequence, timestampNanos: b.timestamp_ns,
                       damaged: b.error != 0)
        }
    }

    public func stream(_ fd: Int32, on: Bool) -> Result<Void, Errno> { Self.check(hal_v4l2_stream(fd, on ? 1 : 0)) }

    public func poll(_ fd: Int32, timeoutMilliseconds: Int32) -> Result<Bool, Errno> {
        let r = hal_v4l2_poll(fd, timeoutMilliseconds)
        return r < 0 ? .failure(Errno(-r)) : .success(r > 0)
    }
}

/// Four-character codes.
public enum FourCC {
    public static func make(_ s: StaticString) -> UInt32 {
        s.withUTF8Buffer { b in UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24 }
    }
    public static let yuyv = make("YUYV"), i420 = make("YU12"), nv12 = make("NV12"), mjpeg = make("MJPG"), jpeg = make("JPEG")
    public static func text(_ v: UInt32) -> String {
        String(decoding: (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) }, as: UTF8.self)
    }
}
