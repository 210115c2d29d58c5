import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Which clock the burnt-in time shows.
public enum OverlayTime: String, Sendable, CaseIterable {
    /// `2026-01-01 08:00:04 UTC`.
    case utc
    /// The machine's local time (TZ) with its offset: `2026-01-01 09:00:04 +01:00`.
    case local
}

/// The time stamp burnt into every raw frame before it is encoded: date and time, the device id and,
/// when the camera is assigned, the officer, in white on a dark box at the top left. The 5x7 font is
/// scaled by a whole factor from the frame height (text about 1/30 of it: 1 at 320x180, 5 at 1920x1080,
/// 10 at 3840x2160), so it reads the same at every size. Drawn in place into the source's buffer, row
/// by row, from text formatted into a buffer allocated here once: nothing allocates per frame.
///
/// Luma only for the text; the box also sets its chroma to neutral so the text reads on any colour.
/// MJPEG frames are not drawn on (that would mean decoding and re-encoding them): they carry the same
/// facts in their COM stamp only.
public final class FrameOverlay {
    public let geometry: FrameGeometry
    public let time: OverlayTime
    /// Font scale (pixels per font pixel).
    public let scale: Int
    /// The box, in pixels (even, clipped to the frame).
    public let boxX: Int, boxY: Int, boxWidth: Int, boxHeight: Int

    static let boxLuma: UInt8 = 16, textLuma: UInt8 = 235, neutralChroma: UInt8 = 128
    /// The longest line: `OFFICER ` and a 32-byte id.
    static let maxLine = 40
    static let lines = 3

    private let text: UnsafeMutableRawBufferPointer
    private var lineStart = (0, 0, 0), lineLength = (0, 0, 0)
    private var lastLocalSecond = Int64.min
    private var localOffset = 0

    /// Nil for MJPEG (nothing to draw on).
    public init?(geometry: FrameGeometry, time: OverlayTime = .utc) {
        guard geometry.format != .mjpeg, geometry.width > 0, geometry.height > 0 else { return nil }
        self.geometry = geometry
        self.time = time
        let scale = max(1, geometry.height / 210)
        self.scale = scale
        let margin = 4 * scale, padding = 2 * scale
        let even = { (v: Int) in (v + 1) & ~1 }
        boxX = min(even(margin), geometry.width & ~1)
        boxY = min(even(margin), geometry.height & ~1)
        let w = padding * 2 + (FrameOverlay.maxLine * 6 - 1) * scale
        let h = padding * 2 + (FrameOverlay.lines * 9 - 2) * scale
        boxWidth = min(even(w), (geometry.width - boxX) & ~1)
        boxHeight = min(even(h), (geometry.height - boxY) & ~1)
        text = .allocate(byteCount: FrameOverlay.lines * FrameOverlay.maxLine, alignment: 1)
        if time == .local { tzset() }
    }

    deinit { text.deallocate() }

    /// The lines drawn for this time, device and officer (for tests and logs: allocates).
    func lines(utc: Int64, deviceID: UnsafeRawBufferPointer, officer: UnsafeRawBufferPointer) -> [String] {
        format(utc: utc, deviceID: deviceID, officer: officer)
        return (0..<FrameOverlay.lines).map { i in
            let (s, n) = line(i)
            return String(decoding: UnsafeRawBufferPointer(rebasing: text[s..<(s + n)]), as: UTF8.self)
        }
    }

    /// Draws the stamp into `frame` (a whole raw frame of `geometry`, writable).
    public func draw(into frame: UnsafeMutableRawBufferPointer, utc: Int64, deviceID: UnsafeRawBufferPointer,
                     officer: UnsafeRawBufferPointer) {
        guard frame.count >= geometry.rawFrameBytes, boxWidth > 0, boxHeight > 0 else { return }
        format(utc: utc, deviceID: deviceID, officer: officer)
        let base = frame.baseAddress!
        fillBox(base)
        let padding = 2 * scale
        for i in 0..<FrameOverlay.lines {
            let (s, n) = line(i)
            drawText(base, start: s, count: n, x: boxX + padding, y: boxY + padding + i * 9 * scale)
        }
    }

    // MARK: - Text

    @inline(__always) private func line(_ i: Int) -> (Int, Int) {
        switch i {
        case 0: return (lineStart.0, lineLength.0)
        case 1: return (lineStart.1, lineLength.1)
        default: return (lineStart.2, lineLength.2)
        }
    }

    private func format(utc: Int64, deviceID: UnsafeRawBufferPointer, officer: UnsafeRawBufferPointer) {
        let m = FrameOverlay.maxLine
        // Line 1: date and time.
        var w = ASCIIWriter(UnsafeMutableRawBufferPointer(rebasing: text[0..<m]))
        var shown = utc
        if time == .local {
            let second = utc / Nanos.perSecond - (utc % Nanos.perSecond < 0 ? 1 : 0)
            if second != lastLocalSecond {
                lastLocalSecond = second
                var t = time_t(second), parts = tm()
                localOffset = localtime_r(&t, &parts) != nil ? Int(parts.tm_gmtoff) : 0
            }
            shown = utc + Int64(localOffset) * Nanos.perSecond
        }
        let c = UTC.civil(shown)
        w.digits(c.year, 4); w.byte("-"); w.digits(c.month, 2); w.byte("-"); w.digits(c.day, 2); w.byte(" ")
        w.digits(c.hour, 2); w.byte(":"); w.digits(c.minute, 2); w.byte(":"); w.digits(c.second, 2); w.byte(" ")
        if time == .utc {
            w.text("UTC")
        } else {
            let o = abs(localOffset) / 60
            w.byte(UInt8(ascii: localOffset < 0 ? "-" : "+")); w.digits(o / 60, 2); w.byte(":"); w.digits(o % 60, 2)
        }
        lineStart.0 = 0; lineLength.0 = w.count
        // Line 2: the device.
        w = ASCIIWriter(UnsafeMutableRawBufferPointer(rebasing: text[m..<(2 * m)]))
        w.bytes(deviceID)
        lineStart.1 = m; lineLength.1 = w.count
        // Line 3: the officer, when assigned.
        w = ASCIIWriter(UnsafeMutableRawBufferPointer(rebasing: text[(2 * m)..<(3 * m)]))
        if officer.count > 0 { w.text("OFFICER "); w.bytes(officer) }
        lineStart.2 = 2 * m; lineLength.2 = w.count
    }

    // MARK: - Pixels

    /// Dark luma and neutral chroma over the box.
    private func fillBox(_ base: UnsafeMutableRawPointer) {
        let g = geometry, x0 = boxX, y0 = boxY, bw = boxWidth, bh = boxHeight
        switch g.format {
        case .yuyv:
            for y in y0..<(y0 + bh) {
                let row = base + y * g.stride + x0 * 2
                var x = 0
                while x < bw * 2 {
                    row.storeBytes(of: FrameOverlay.boxLuma, toByteOffset: x, as: UInt8.self)
                    row.storeBytes(of: FrameOverlay.neutralChroma, toByteOffset: x + 1, as: UInt8.self)
                    x += 2
                }
            }
        case .i420, .nv12:
            for y in y0..<(y0 + bh) {
                (base + y * g.stride + x0).initializeMemory(as: UInt8.self, repeating: FrameOverlay.boxLuma, count: bw)
            }
            let luma = g.stride * g.height
            for cy in (y0 / 2)..<((y0 + bh) / 2) {
                if g.format == .nv12 {
                    (base + luma + cy * g.stride + x0).initializeMemory(as: UInt8.self, repeating: FrameOverlay.neutralChroma,
                                                                         count: bw)
                } else {
                    let cs = g.stride / 2, plane = cs * (g.height / 2)
                    (base + luma + cy * cs + x0 / 2).initializeMemory(as: UInt8.self, repeating: FrameOverlay.neutralChroma,
                                                                       count: bw / 2)
                    (base + luma + plane + cy * cs + x0 / 2).initializeMemory(as: UInt8.self,
                                                                               repeating: FrameOverlay.neutralChroma, count: bw / 2)
                }
            }
        case .mjpeg:
            break
        }
    }

    /// Bright glyphs, clipped to the box.
    private func drawText(_ base: UnsafeMutableRawPointer, start: Int, count: Int, x: Int, y: Int) {
        let g = geometry, s = scale
        let right = boxX + boxWidth, bottom = boxY + boxHeight
        let step = g.format == .yuyv ? 2 : 1
        for gy in 0..<Font5x7.height {
            for dy in 0..<s {
                let py = y + gy * s + dy
                guard py < bottom else { return }
                let row = base + py * g.stride
                for ch in 0..<count {
                    let bits = Font5x7.row(text[start + ch], gy)
                    guard bits != 0 else { continue }
                    for col in 0..<Font5x7.width where (bits >> (4 - col)) & 1 == 1 {
                        let px = x + (ch * 6 + col) * s
                        var dx = 0
                        while dx < s && px + dx < right {
                            row.storeBytes(of: FrameOverlay.textLuma, toByteOffset: (px + dx) * step, as: UInt8.self)
                            dx += 1
                        }
                    }
                }
            }
        }
    }
}
