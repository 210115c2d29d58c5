import BodycamEvidence
/// Everything the camera is configured with at start-up. Defaults follow real cameras and the brief:
/// 1280x720 at 30 fps, JPEG quality 85, 30 s of pre-record, 5-minute segments.
public struct CameraSettings: Sendable {
    public var width = 1280
    public var height = 720
    public var fps = 30
    public var quality = 85
    /// What the synthetic source produces: raw frames to encode, or JPEGs for the passthrough path.
    public var format: PixelFormat = .yuyv
    public var preRecord: Nanos = 30 * Nanos.perSecond
    /// Byte bound of the pre-record arena; nil derives it from size, fps and pre-record length.
    public var arenaBytes: Int?
    public var segmentDuration: Nanos = 300 * Nanos.perSecond
    public var segmentBytes = 512 << 20
    public var storage = "storage"
    public var seed: UInt64 = 1
    public var deviceID = "BWV-0001"
    /// UTC at camera start (nil: the machine's clock). Fixed by default in virtual-clock runs so reruns are
    /// byte-identical; the camera never starts before the last time recorded on its storage.
    public var utcStart: Int64? = CameraSettings.virtualClockStart
    /// 2026-01-01T08:00:00Z.
    public static let virtualClockStart: Int64 = 1_767_254_400 * Nanos.perSecond
    /// Sensor-like noise in synthetic frames (0-64).
    public var noise = 6
    /// How often the open segment is made durable (camera time).
    public var syncInterval: Nanos = Nanos.perSecond
    /// The time stamp burnt into raw frames (date and time, device, officer); off for bench comparisons.
    public var overlay = true
    /// The clock the burnt-in time shows.
    public var overlayTime: OverlayTime = .utc
    /// Encoder workers for raw frames (1: the capture thread encodes). The command line defaults to the
    /// cores the process may run on. The recordings are the same, byte for byte, whatever the number.
    public var encoders = 1
    public static let maxEncoders = 32

    public init() {}

    public static let maxPreRecord: Nanos = RecordingManifest.maxPreRecord
    /// Time the writer may lag behind capture before frames are dropped (live) or capture waits (virtual).
    public static let writerHeadroom: Nanos = 2 * Nanos.perSecond

    public var geometry: FrameGeometry { FrameGeometry(width: width, height: height, format: format) }

    /// Expected JPEG size of one frame of camera-like content at this quality, with a 25 % margin:
    /// 2.75 bits per pixel at quality 85 (noisy footage compresses 5-15:1 against raw 4:2:2; the
    /// synthetic source at its default noise gives about 7:1, i.e. 2.3 bits per pixel).
    public var estimatedFrameBytes: Int {
        let bitsPerPixel = (0.5 + 2.0 * Double(quality) / 100.0) * 1.25
        // Plus headers and tables, and the stamp, which weigh more in small frames.
        return Int(Double(width * height) * bitsPerPixel / 8) + 2048
    }

    /// The pre-record arena: pre-record plus writer headroom at the estimated frame size, plus room for
    /// the contiguous reservation of one worst-case frame at the end of the arena.
    public var derivedArenaBytes: Int {
        let seconds = Double(preRecord + CameraSettings.writerHeadroom) / Double(Nanos.perSecond)
        return Int(Double(estimatedFrameBytes) * Double(fps) * seconds) + 2 * geometry.maxEncodedFrameBytes
    }

    /// Descriptor slots: every frame of the pre-record and headroom, plus a margin.
    public var frameCapacity: Int {
        Int((preRecord + CameraSettings.writerHeadroom) * Nanos(fps) / Nanos.perSecond) + 64
    }

    /// Problems a user must fix, in words; empty when the settings are usable on a machine with
    /// `physicalMemory` bytes.
    public func problems(physicalMemory: Int = ArenaMemory.physicalMemory) -> [String] {
        // Each names the option that sets it, with the units and range it takes (one line each).
        var p: [String] = []
        let d = DurationText.format
        if width < 16 || height < 16 || width > 8192 || height > 8192 || width % 2 != 0 || height % 2 != 0 {
            p.append("--size \(width)x\(height): width and height in pixels, each even, 16 to 8192")
        }
        if !(1...240).contains(fps) { p.append("--fps \(fps): frames per second, 1 to 240") }
        if !(1...100).contains(quality) { p.append("--quality \(quality): JPEG quality, 1 to 100") }
        if !(1...CameraSettings.maxEncoders).contains(encoders) {
            p.append("--encoders \(encoders): encoder workers, 1 to \(CameraSettings.maxEncoders)")
        }
        if preRecord < 0 || preRecord > CameraSettings.maxPreRecord {
            p.append("--prerecord \(d(preRecord)): pre-record length, 0s to \(d(CameraSettings.maxPreRecord))")
        }
        if segmentDuration < Nanos.perSecond || segmentDuration > 4 * 3600 * Nanos.perSecond {
            p.append("--segment-duration \(d(segmentDuration)): segment length, 1s to 4h")
        }
        if segmentBytes < (1 << 20) || segmentBytes > AVILayout.maxSegmentBytesLimit {
            p.append("--segment-bytes \(segmentBytes): segment size in bytes, 1 MiB (1048576) to 1 GiB (\(AVILayout.maxSegmentBytesLimit)); AVI 1.0 readers stop at 1 GiB")
        }
        if let a = arenaBytes, a < geometry.maxEncodedFrameBytes {
            p.append("--prerecord-bytes \(a): bytes of pre-record buffer, at least one frame (\(geometry.maxEncodedFrameBytes) bytes at \(width)x\(height))")
        }
        // The arena is touched at start-up: more than half the machine's memory would starve everything else.
        let arena = arenaBytes ?? derivedArenaBytes
        if p.isEmpty, arena > physicalMemory / 2 {
            p.append("the pre-record buffer would take \(arena >> 20) MiB, more than half of this machine's memory "
                     + "(\(physicalMemory >> 20) MiB): lower --prerecord, --fps or --size, or set --prerecord-bytes")
        }
        if !FrameStamp.isValidDeviceID(deviceID) { p.append("--device-id '\(deviceID.prefix(40))': a device id is 1-32 of A-Z a-z 0-9 - _") }
        if !(0...64).contains(noise) { p.append("--noise \(noise): sensor noise of synthetic frames, 0 to 64") }
        if syncInterval < 0 || syncInterval > 60 * Nanos.perSecond {
            p.append("--sync-interval \(d(syncInterval)): time between syncs of the open segment, 0s to 60s")
        }
        return p
    }

    public var recordingsDirectory: String { storage + "/recordings" }
    /// Identity, keys and the audit trail.
    public var stateDirectory: String { storage + "/state" }

    public func recorderSettings(backPressure: BackPressure) -> RecorderSettings {
        var r = RecorderSettings(directory: recordingsDirectory, deviceID: deviceID, width: width, height: height, fps: fps,
                                 preRecord: preRecord, arenaBytes: arenaBytes ?? derivedArenaBytes,
                                 frameCapacity: frameCapacity, segmentMaxDuration: segmentDuration,
                                 segmentMaxBytes: segmentBytes, backPressure: backPressure)
        r.syncInterval = syncInterval
        return r
    }
}
