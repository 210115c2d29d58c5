import Foundation
import BodycamEvidence

/// Counters that must never go back, whatever is offloaded, deleted or quarantined: how often the device
/// has booted, and the next recording number. Kept in `state/counters.json`, written durably at boot;
/// at boot the next recording number is also at least one more than any id the audit trail or a kept
/// recording names (never a quarantined or planted name), so a lost or stale file cannot make an id repeat.
public struct DeviceCounters: Equatable, Sendable {
    public static let fileName = "counters.json"
    /// Far beyond any device's life, and far from overflow.
    public static let maxBoots = 1_000_000_000
    /// The largest recording number an id can carry (`EvidenceNames` reads up to 9 digits).
    public static let maxRecording = 999_999_999
    public var boots = 0
    public var nextRecording = 1

    public init(boots: Int = 0, nextRecording: Int = 1) {
        self.boots = boots
        self.nextRecording = nextRecording
    }

    public var bytes: [UInt8] {
        Array((JSON.object([("boots", .int(Int64(boots))), ("next_recording", .int(Int64(nextRecording)))]).serialized + "\n").utf8)
    }

    private struct Wire: Decodable { var boots: Int; var next_recording: Int }

    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> DeviceCounters {
        guard let w = try? JSONDecoder().decode(Wire.self, from: Data(bytes)), (0...maxBoots).contains(w.boots),
              (1...maxRecording + 1).contains(w.next_recording) else { throw EvidenceError("not a counters file") }
        let c = DeviceCounters(boots: w.boots, nextRecording: w.next_recording)
        guard c.bytes == bytes else { throw EvidenceError("not in the form the camera writes") }
        return c
    }

    public func write(stateDirectory: String) throws(IOError) {
        try FileBytes.writeDurably(stateDirectory + "/" + Self.fileName, bytes, mode: 0o640)
    }
}
