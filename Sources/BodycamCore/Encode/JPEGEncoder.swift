import CHAL
import BodycamEvidence

/// Why a frame could not be encoded.
public enum JPEGEncodeError: Error, Equatable, Sendable {
    case outputTooSmall
    case inputTooSmall
    case libjpeg(String)
    case argument
}

/// A libjpeg(-turbo) encoder for one frame geometry (HAL: `hal_jpeg_encode`, i.e. jpeg_start_compress,
/// jpeg_write_marker(COM), jpeg_write_raw_data, jpeg_finish_compress). All memory is allocated here, once.
public final class JPEGEncoder {
    private let handle: OpaquePointer
    public let geometry: FrameGeometry
    public private(set) var quality: Int

    public init?(geometry: FrameGeometry, quality: Int) {
        guard let format = geometry.format.hal,
              let h = hal_jpeg_encoder_create(UInt32(geometry.width), UInt32(geometry.height),
                                              UInt32(geometry.stride), format, Int32(quality)) else { return nil }
        handle = h
        self.geometry = geometry
        self.quality = quality
    }

    deinit { hal_jpeg_encoder_destroy(handle) }

    public func setQuality(_ q: Int) -> Bool {
        guard hal_jpeg_encoder_set_quality(handle, Int32(q)) == HAL_OK else { return false }
        quality = q
        return true
    }

    /// Encodes `source` into `output` with `comment` as a COM segment; returns the JPEG's length.
    public func encode(_ source: UnsafeRawBufferPointer, comment: UnsafeRawBufferPointer,
                       into output: UnsafeMutableRawBufferPointer) throws(JPEGEncodeError) -> Int {
        var length = 0
        let status = hal_jpeg_encode(handle,
                                     source.baseAddress?.assumingMemoryBound(to: UInt8.self), source.count,
                                     comment.baseAddress?.assumingMemoryBound(to: UInt8.self), comment.count,
                                     output.baseAddress?.assumingMemoryBound(to: UInt8.self), output.count,
                                     &length)
        switch status {
        case HAL_OK: return length
        case HAL_ERR_OUTPUT_TOO_SMALL: throw .outputTooSmall
        case HAL_ERR_INPUT_TOO_SMALL: throw .inputTooSmall
        case HAL_ERR_LIBJPEG: throw .libjpeg(String(cString: hal_jpeg_last_error(handle)))
        default: throw .argument
        }
    }

    /// Times libjpeg's per-image memory fell back to malloc (0 in steady state).
    public var heapFallbacks: UInt64 { hal_jpeg_encoder_heap_fallbacks(handle) }
}
