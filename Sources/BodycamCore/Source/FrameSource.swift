import CHAL
import BodycamEvidence

/// How the bytes of a captured frame are laid out.
public enum PixelFormat: String, Sendable, CaseIterable {
    /// Packed 4:2:2, two bytes per pixel (V4L2_PIX_FMT_YUYV): what most webcams give raw.
    case yuyv
    /// Planar 4:2:0 (V4L2_PIX_FMT_YUV420).
    case i420
    /// Semi-planar 4:2:0: Y, then interleaved U V (V4L2_PIX_FMT_NV12).
    case nv12
    /// A complete JPEG per frame (V4L2_PIX_FMT_MJPEG): passed through without re-encoding.
    case mjpeg

    var hal: hal_pixfmt? {
        switch self {
        case .yuyv: return HAL_PIX_YUYV
        case .i420: return HAL_PIX_I420
        case .nv12: return HAL_PIX_NV12
        case .mjpeg: return nil
        }
    }
}

/// The size and layout of the frames a source produces.
public struct FrameGeometry: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var format: PixelFormat
    /// Bytes per line of the first plane (V4L2 `bytesperline`); 0 for MJPEG.
    public var stride: Int

    public init(width: Int, height: Int, format: PixelFormat, stride: Int? = nil) {
        self.width = width
        self.height = height
        self.format = format
        switch format {
        case .yuyv: self.stride = stride ?? width * 2
        case .i420, .nv12: self.stride = stride ?? width
        case .mjpeg: self.stride = 0
        }
    }

    /// Bytes of one raw frame (for MJPEG: an upper bound a sane JPEG of this size never exceeds).
    public var rawFrameBytes: Int {
        switch format {
        case .yuyv, .i420, .nv12: return hal_jpeg_source_size(UInt32(height), UInt32(stride), format.hal!)
        case .mjpeg: return width * height * 2
        }
    }

    /// Largest encoded frame the pipeline accepts: the size of the raw 4:2:2 picture. A JPEG bigger than
    /// the raw picture means something is wrong; such a frame is dropped and counted.
    public var maxEncodedFrameBytes: Int { width * height * 2 + 4096 }
}

/// A frame as the source hands it over: a view of memory the source owns until `releaseFrame(_:)`.
public struct CapturedFrame {
    public var bytes: UnsafeRawBufferPointer
    /// Capture time (CLOCK_MONOTONIC for a live camera, simulated time for synthetic frames).
    public var mono: Nanos
    /// The source's own frame counter; a gap means the source dropped frames.
    public var sequence: UInt64
    /// The driver flagged the frame as damaged (V4L2_BUF_FLAG_ERROR): it is dropped and counted.
    public var isDamaged: Bool
    /// The source's own handle of the memory (V4L2: the buffer index), for `releaseFrame(_:)`.
    public var buffer: Int
    public init(bytes: UnsafeRawBufferPointer, mono: Nanos, sequence: UInt64, isDamaged: Bool = false, buffer: Int = 0) {
        self.bytes = bytes
        self.mono = mono
        self.sequence = sequence
        self.isDamaged = isDamaged
        self.buffer = buffer
    }
}

/// What a frame source can report going wrong.
public enum FrameSourceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The device disappeared (ENODEV/EIO); the camera may try to reopen it.
    case deviceLost(String)
    /// Could not be opened or configured; a user error, reported once.
    case unusable(String)

    public var description: String {
        switch self {
        case .deviceLost(let s): return "camera lost: " + s
        case .unusable(let s): return s
        }
    }
}

/// Where frames come from: a V4L2 camera, the synthetic generator, or a file. Like a driver's ops table:
/// start, take the next frame, give it back, stop. Up to `framesOutLimit` frames may be out at once (the
/// encoder workers hold theirs until encoded, as a V4L2 driver's buffers are held until re-queued); they
/// may be given back in any order.
public protocol FrameSource: AnyObject {
    var geometry: FrameGeometry { get }
    /// The nominal time between frames (1/fps).
    var frameInterval: Nanos { get }
    /// When the next frame will be captured, for sources paced by the virtual clock (nil for a live
    /// camera, whose frames come when they come). Lets the runtime apply a button press at time T
    /// before the frame captured at T.
    var nextFrameDue: Nanos? { get }
    /// Starts (or restarts, after sleep or docking) streaming; frames are due from now on.
    func start() throws(FrameSourceError)
    /// Waits for the next frame (paced by the camera clock). Nil at the end of a finite source. Never
    /// called while `framesOutLimit` frames are out.
    func nextFrame() throws(FrameSourceError) -> CapturedFrame?
    /// Gives a frame's memory back (V4L2: re-queues the buffer).
    func releaseFrame(_ frame: CapturedFrame)
    /// Most frames that may be out (taken and not yet given back) at once; at least 1.
    var framesOutLimit: Int { get }
    func stop()
    /// The camera's UTC moved by `offset` (a dock clock sync): a source that draws the time into its
    /// frames follows it.
    func clockCorrected(by offset: Nanos)
    /// The frames handed over may be written to until `releaseFrame(_:)` (the frame path burns its time
    /// stamp into them in place). False: the frame path draws on a copy in a buffer it preallocated.
    var framesAreWritable: Bool { get }
}

public extension FrameSource {
    func clockCorrected(by offset: Nanos) {}
    var framesAreWritable: Bool { false }
    var framesOutLimit: Int { 1 }
}
