import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Recording ids: `<device id>-<counter>`, never repeated on a device. The boot chooses the first
/// number (see `DeviceCounters`); each id handed out is written to `state/counters.json` at once
/// (without waiting for the disk: a power cut that loses the write loses nothing, because the next boot
/// also counts past every id the audit trail and the files name).
public struct RecordingIDs {
    public let deviceID: String
    public private(set) var counters: DeviceCounters
    private let stateDirectory: String

    public init(deviceID: String, counters: DeviceCounters, stateDirectory: String) {
        self.deviceID = deviceID
        self.counters = counters
        self.stateDirectory = stateDirectory
    }

    /// The next id, or nil when the counter is used up (a device would need a billion recordings).
    public mutating func next() -> (number: UInt32, id: String)? {
        let n = counters.nextRecording
        guard n <= DeviceCounters.maxRecording else { return nil }
        counters.nextRecording += 1
        let bytes = counters.bytes
        let path = stateDirectory + "/" + DeviceCounters.fileName
        let fd = retrying { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o640) }
        if fd >= 0 {
            let f = PosixFile(fd: fd, path: path)
            bytes.withUnsafeBytes { b in try? f.write(b) }
            f.close()
        }
        return (UInt32(truncatingIfNeeded: n), EvidenceNames.RecordingID(deviceID: deviceID, number: n).text)
    }
}
