/// Recording ids: `<device id>-<6-digit counter>`, unique on the device. The counter continues from the
/// highest id found in the recordings folder, so restarting the camera never reuses an id.
public struct RecordingIDs {
    public let deviceID: String
    public private(set) var last: Int

    public init(deviceID: String, directory: String) {
        self.deviceID = deviceID
        let marker = "_" + deviceID + "-"
        var highest = 0
        for name in PosixFile.list(directory) {
            // 20260101T080000.000Z_BWV-0001-000001_001.avi
            guard let sep = name.firstIndex(of: "_"), name[sep...].hasPrefix(marker) else { continue }
            let digits = name[sep...].dropFirst(marker.count).prefix { $0.isNumber }
            if digits.count == 6, let n = Int(digits) { highest = max(highest, n) }
        }
        last = highest
    }

    public mutating func next() -> (number: UInt32, id: String) {
        last += 1
        var n = String(last)
        while n.count < 6 { n = "0" + n }
        return (UInt32(truncatingIfNeeded: last), deviceID + "-" + n)
    }
}
