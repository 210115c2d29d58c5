import BodycamEvidence

/// What a person watching the camera sees at a glance (the terminal's status line, the live page): a
/// small value copied out of the runtime, so readers on other threads never touch the device itself.
public struct LiveStatus: Equatable, Sendable {
    public var state: PowerState = .off
    public var led: LED = .off
    public var stealth = false
    public var battery = 100
    public var charging = false
    public var recordingID: String?
    /// Camera time since the recording started (pre-record not counted), nil when not recording.
    public var recordingNanos: Nanos?
    public var markers = 0
    public var officer: String?
    public var cameraOK = true
    public var storageFree: Int64 = 0
    public var storageCapacity: Int64 = 0
    public var framesCaptured: UInt64 = 0
    public var framesDropped: UInt64 = 0
    /// The dock's transfer while one runs, with its rate (bytes per second of camera time).
    public var offload: Offloader.Progress?
    public var offloadBytesPerSecond: Int64 = 0
    /// Camera time and UTC (milliseconds) of this snapshot.
    public var mono: Nanos = 0
    public var utcMillis: Int64 = 0

    public init() {}

    /// Seconds the running offload still needs at the dock's rate (nil when none runs).
    public var offloadSecondsLeft: Double? {
        guard let p = offload, offloadBytesPerSecond > 0 else { return nil }
        return Double(max(0, p.bytesTotal - p.bytesDone)) / Double(offloadBytesPerSecond)
    }
}

/// The latest `LiveStatus`, published by the runtime's thread and read from any other. The lock is held
/// only to copy the value (no I/O, no allocation): readers can never hold up the frame path.
public final class LiveStatusBoard: @unchecked Sendable {
    private let lock = ConditionLock()
    private var current = LiveStatus()
    private var version: UInt64 = 0

    public init() {}

    public func publish(_ status: LiveStatus) {
        lock.withLock {
            guard status != current else { return }
            current = status
            version &+= 1
        }
    }

    /// The latest status and a number that changes whenever it does (readers skip redraws otherwise).
    public var latest: (status: LiveStatus, version: UInt64) { lock.withLock { (current, version) } }
}
