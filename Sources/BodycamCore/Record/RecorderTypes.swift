import BodycamEvidence
/// What the capture side does when the ring is full of frames the writer has not written yet.
public enum BackPressure: String, Sendable {
    /// Live camera: time is real, capture must never wait for the disk. Drop the frame and count it.
    case drop
    /// Virtual clock: time is whatever the simulation says, so wait for the writer. Nothing is dropped
    /// and reruns are byte-identical.
    case wait
}

public struct RecorderSettings: Sendable {
    /// Folder the finished segments go in.
    public var directory: String
    public var deviceID: String
    public var width: Int
    public var height: Int
    public var fps: Int
    public var preRecord: Nanos
    public var arenaBytes: Int
    public var frameCapacity: Int
    public var segmentMaxDuration: Nanos
    public var segmentMaxBytes: Int
    public var backPressure: BackPressure
    /// How often (camera time) the open segment is made durable: a power cut loses at most this much
    /// of what was written.
    public var syncInterval: Nanos = Nanos.perSecond

    public init(directory: String, deviceID: String, width: Int, height: Int, fps: Int, preRecord: Nanos,
                arenaBytes: Int, frameCapacity: Int, segmentMaxDuration: Nanos, segmentMaxBytes: Int,
                backPressure: BackPressure) {
        self.directory = directory
        self.deviceID = deviceID
        self.width = width
        self.height = height
        self.fps = fps
        self.preRecord = preRecord
        self.arenaBytes = arenaBytes
        self.frameCapacity = frameCapacity
        self.segmentMaxDuration = segmentMaxDuration
        self.segmentMaxBytes = segmentMaxBytes
        self.backPressure = backPressure
    }

    /// Frames one segment can hold at most (sizes its preallocated index).
    public var segmentFrameCapacity: Int {
        Int((segmentMaxDuration * Nanos(fps) + Nanos.perSecond - 1) / Nanos.perSecond) + 1
    }
}

/// A recording as the capture side hands it to the writer.
public struct RecordingInfo: Sendable {
    public var owner: UInt32
    public var id: String
    public var trigger: String
    /// The officer the camera was assigned to when the recording started.
    public var officer: String?
    /// Index one past the recording's last frame in the ring, once stopped.
    var stopIndex: UInt64?
    /// Frames of this recording lost because the writer fell behind (live capture only).
    var droppedFrames: UInt64 = 0
    /// How much pre-record the recording starts with, in whole milliseconds: computed once, when it
    /// starts, and used as is by the event, the audit entry and the manifest.
    var prerecordMilliseconds: Int64 = 0
    var markers: [Marker] = []
    /// When the recording was started, on the capture side's clocks.
    var startMono: Nanos = 0
    var startUTC: Int64 = 0

    var isStopped: Bool { stopIndex != nil }
}

/// A recording that has started: what the capture side reports about its pre-record.
public struct StartedRecording: Equatable, Sendable {
    /// Frames taken from the pre-record buffer.
    public var prerecordFrames: Int
    /// From the first pre-record frame to the start, in whole milliseconds (0 without pre-record).
    public var prerecordMilliseconds: Int64
    /// The same, in seconds, as every report of it says it (event, audit entry, manifest).
    public var prerecordSeconds: Double { Double(prerecordMilliseconds) / 1000 }
}

/// What the writer needs to make recordings evidence: the key that signs manifests, the audit trail.
public struct Evidence: Sendable {
    public var identity: DeviceIdentity
    public var audit: AuditLog
    public init(identity: DeviceIdentity, audit: AuditLog) {
        self.identity = identity
        self.audit = audit
    }
}

/// Counters the camera reports (every drop is counted somewhere here).
public struct RecorderCounters: Equatable, Sendable {
    public var ring = FrameRing.Counters()
    public var framesWritten: UInt64 = 0
    public var segmentsWritten: UInt64 = 0
    /// Frames of a recording that could not be written because its file failed (disk full, I/O error).
    public var framesLostOnWriteError: UInt64 = 0
    /// Storage the recordings will take once written (AVI chunk, index entry, one header per recording),
    /// counted on the capture side as frames join a recording, so it is the same on every run.
    public var recordedBytes: Int64 = 0
}

/// Why the writer gave up on a recording.
public enum WriteFailure: Equatable, Sendable {
    case outOfSpace
    case ioError
}

extension Event {
    /// The writer could not write part of a recording (docs/EVENTS.md, `error` from the writer).
    static func writerError(recording: String, _ error: IOError, message: String? = nil, at time: (mono: Nanos, utc: Int64)) -> Event {
        Event("error", mono: time.mono, utc: time.utc, [
            ("source", .string("writer")), ("recording", .string(recording)),
            ("out_of_space", .bool(error.isOutOfSpace)), ("message", .string(message ?? error.description)),
        ])
    }
}
