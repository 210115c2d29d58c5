import BodycamCore
import BodycamEvidence

/// The terminal's one-line live status, from a `LiveStatus`:
/// `● REC 00:01:23  LED red-blink  battery 87%  storage 41.2 GB free  PC-1234`
/// `DOCKED charging  offload 45%  1.2/2.7 GB  40 MB/s  38 s left`
/// Pure. It always fits `width` columns: the least important parts go first, then the rest is cut.
public enum StatusLineText {
    /// Below this the battery is shown as low (the camera's first alert is at 10 %).
    public static let lowBattery = 10

    public static func render(_ s: LiveStatus, width: Int) -> String {
        // (text, priority): higher priority is kept longer when the width is short.
        var parts: [(String, Int)] = []
        switch s.state {
        case .recording:
            parts.append(("● REC " + Quantities.clock(s.recordingNanos ?? 0), 9))
        case .docked:
            parts.append(("DOCKED" + (s.charging ? " charging" : ""), 9))
        default:
            parts.append((s.state.rawValue.uppercased(), 9))
        }
        if s.stealth { parts.append(("STEALTH", 8)) }
        if !s.cameraOK { parts.append(("CAMERA LOST", 8)) }
        if let p = s.offload {
            let percent = p.bytesTotal > 0 ? Int(Double(p.bytesDone) * 100 / Double(p.bytesTotal)) : 100
            parts.append(("offload \(percent)%", 7))
            parts.append((Quantities.bytes(Int64(p.bytesDone), of: Int64(p.bytesTotal)), 4))
            if s.offloadBytesPerSecond > 0 { parts.append((Quantities.rate(s.offloadBytesPerSecond), 2)) }
            if let left = s.offloadSecondsLeft { parts.append((Quantities.duration(seconds: left) + " left", 5)) }
        }
        if s.state != .docked || s.offload == nil { parts.append(("LED " + s.led.rawValue, 3)) }
        let low = s.battery < lowBattery && !s.charging
        // On the dock the battery only fills: the transfer matters more there.
        parts.append(("battery \(s.battery)%" + (low ? " LOW" : ""), low ? 8 : s.charging ? 3 : 6))
        if s.state != .docked || s.offload == nil {
            parts.append((s.storageFree > 0 ? "storage \(Quantities.bytes(s.storageFree)) free" : "storage FULL",
                          s.storageFree > 0 ? 4 : 8))
        }
        if s.markers > 0 && s.state == .recording { parts.append(("\(s.markers) marker\(s.markers == 1 ? "" : "s")", 2)) }
        if s.framesDropped > 0 { parts.append(("\(s.framesDropped) frames dropped", 2)) }
        if let officer = s.officer { parts.append((TerminalText.printable(officer), 1)) }
        return fit(parts, width: width)
    }

    /// Drops the lowest-priority parts (the last of equals first) until the line fits, then cuts.
    static func fit(_ parts: [(String, Int)], width: Int) -> String {
        var kept = parts
        func line() -> String { kept.map(\.0).joined(separator: "  ") }
        while kept.count > 1 && TerminalText.width(line()) > width {
            var drop = kept.count - 1
            for i in kept.indices.reversed() where kept[i].1 < kept[drop].1 { drop = i }
            kept.remove(at: drop)
        }
        return TerminalText.fit(line(), width: width)
    }
}
