/// A deterministic camera: for a given seed, frame N is always the same picture. It shows a moving
/// gradient and box under sensor-like noise (so it compresses like real footage, not like a flat test
/// pattern), with the frame number and the camera's UTC time burnt in at the top left.
///
/// Produces YUYV or I420, or JPEG (encoded here, to feed the MJPEG passthrough path like an MJPEG webcam).
/// Frames are paced by the camera clock: a virtual clock makes this as fast as the machine goes.
public final class SyntheticSource: FrameSource {
    public let geometry: FrameGeometry
    public let frameInterval: Nanos
    public let fps: Int
    /// Maps camera time to the UTC drawn into the picture.
    public var utc: UTCMapping
    /// Loudness of the sensor noise, 0-64: 0 gives a clean pattern that compresses far too well.
    public let noise: Int

    private let clock: CameraClock
    private let raw: UnsafeMutableRawBufferPointer       // the raw frame being rendered (reused)
    private let jpeg: UnsafeMutableRawBufferPointer?     // its JPEG, for MJPEG output (reused)
    private let encoder: JPEGEncoder?
    private let noiseTable: UnsafeMutableBufferPointer<Int8>
    private let wave: UnsafeMutableBufferPointer<UInt8>
    private let lumaRow, uRow, vRow: UnsafeMutableBufferPointer<UInt8>
    private let label: UnsafeMutableRawBufferPointer
    private let seed: UInt64
    private var startMono: Nanos = 0
    /// Frames since the last start (timing) and since creation (the source's sequence number).
    private var index: UInt64 = 0
    private var produced: UInt64 = 0
    private var damagedToGo = 0
    private var frameLimit: UInt64?

    static let noiseMask = 0xFFFF

    /// - Parameters:
    ///   - format: `.yuyv`, `.i420`, or `.mjpeg` (rendered as YUYV, encoded at `jpegQuality`).
    ///   - frames: stop after this many frames (nil: endless).
    public init?(width: Int, height: Int, fps: Int, format: PixelFormat, seed: UInt64, clock: CameraClock,
                 utc: UTCMapping, noise: Int = 12, jpegQuality: Int = 85, frames: UInt64? = nil) {
        guard width >= 16, height >= 16, width % 2 == 0, height % 2 == 0, fps >= 1, fps <= 240,
              (0...64).contains(noise) else { return nil }
        geometry = FrameGeometry(width: width, height: height, format: format)
        self.fps = fps
        frameInterval = Nanos.perSecond / Nanos(fps)
        self.clock = clock
        self.utc = utc
        self.noise = noise
        self.seed = seed
        frameLimit = frames
        let rawGeometry = format == .mjpeg ? FrameGeometry(width: width, height: height, format: .yuyv) : geometry
        raw = .allocate(byteCount: rawGeometry.rawFrameBytes, alignment: 64)
        if format == .mjpeg {
            guard let e = JPEGEncoder(geometry: rawGeometry, quality: jpegQuality) else { raw.deallocate(); return nil }
            encoder = e
            jpeg = .allocate(byteCount: geometry.maxEncodedFrameBytes, alignment: 64)
        } else {
            encoder = nil
            jpeg = nil
        }
        noiseTable = .allocate(capacity: SyntheticSource.noiseMask + 1 + width)
        wave = .allocate(capacity: 512)
        lumaRow = .allocate(capacity: width)
        uRow = .allocate(capacity: width / 2)
        vRow = .allocate(capacity: width / 2)
        label = .allocate(byteCount: 64, alignment: 1)
        var rng = SplitMix64(seed: seed)
        let span = UInt64(2 * noise + 1)
        for i in 0..<noiseTable.count { noiseTable[i] = Int8(Int(rng.next() % span) - noise) }
        for i in 0..<512 { wave[i] = UInt8(48 + (i < 256 ? i : 511 - i) * 160 / 256) }
    }

    deinit {
        raw.deallocate()
        jpeg?.deallocate()
        noiseTable.deallocate()
        wave.deallocate()
        lumaRow.deallocate()
        uRow.deallocate()
        vRow.deallocate()
        label.deallocate()
    }

    public func start() throws(FrameSourceError) {
        startMono = clock.now
        index = 0
    }

    /// Fault injection: the next `count` frames arrive damaged. Raw frames carry the driver's error flag;
    /// JPEG frames arrive truncated (no EOI), as a USB camera delivers them when packets are lost.
    public func damageNextFrames(_ count: Int) { damagedToGo += count }


    public var nextFrameDue: Nanos? {
        if let limit = frameLimit, index >= limit { return nil }
        // Exact integer timing: frame N is at N/fps seconds, with no drift over a 12-hour shift.
        return startMono + Nanos(index) * Nanos.perSecond / Nanos(fps)
    }

    public func nextFrame() throws(FrameSourceError) -> CapturedFrame? {
        guard let mono = nextFrameDue else { return nil }
        clock.sleep(until: mono)
        render(frame: produced, utc: utc.utc(mono))
        let sequence = produced
        index += 1
        produced += 1
        let damaged = damagedToGo > 0
        if damaged { damagedToGo -= 1 }
        if let encoder, let jpeg {
            do {
                let n = try encoder.encode(UnsafeRawBufferPointer(raw), comment: UnsafeRawBufferPointer(start: nil, count: 0),
                                           into: jpeg)
                let kept = damaged ? n / 2 : n
                return CapturedFrame(bytes: UnsafeRawBufferPointer(rebasing: jpeg[0..<kept]), mono: mono, sequence: sequence)
            } catch {
                throw .unusable("synthetic JPEG encode failed: \(error)")
            }
        }
        return CapturedFrame(bytes: UnsafeRawBufferPointer(raw), mono: mono, sequence: sequence, isDamaged: damaged)
    }

    public func releaseFrame() {}
    public func stop() {}

    // MARK: - Rendering

    private func render(frame k: UInt64, utc: Int64) {
        let w = geometry.width, h = geometry.height
        let boxSize = h / 4
        let boxX = Int((k &* 4) % UInt64(w - boxSize)), boxY = Int((k &* 2) % UInt64(h - boxSize))
        let shift = Int(k % 512) * 3
        let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let isI420 = geometry.format == .i420
        let stride = isI420 ? geometry.stride : w * 2
        for y in 0..<h {
            // A fresh noise offset for every (frame, row): deterministic, different everywhere.
            let offset = Int(truncatingIfNeeded: SplitMix64.mix(seed ^ (k &* 0x9E37_79B9) ^ UInt64(y) &* 0x85EB_CA6B))
                & SyntheticSource.noiseMask
            let inBoxRow = y >= boxY && y < boxY + boxSize
            for x in 0..<w {
                var v = Int(wave[(x + y / 2 + shift) & 511])
                if inBoxRow && x >= boxX && x < boxX + boxSize { v = 200 + (x - boxX) % 32 }
                v += Int(noiseTable[offset + x])
                lumaRow[x] = UInt8(clamping: v)
            }
            for x in 0..<(w / 2) {
                let n = Int(noiseTable[offset + x] >> 2)
                uRow[x] = UInt8(clamping: 128 + ((x / 2 + Int(k)) & 63) - 32 + n)
                vRow[x] = UInt8(clamping: 128 + ((y / 4 + x / 8) & 63) - 32 - n)
            }
            if isI420 {
                (base + y * stride).update(from: lumaRow.baseAddress!, count: w)
                if y % 2 == 0 {
                    let cw = stride / 2, plane = stride * h, chromaPlane = cw * (h / 2)
                    (base + plane + (y / 2) * cw).update(from: uRow.baseAddress!, count: w / 2)
                    (base + plane + chromaPlane + (y / 2) * cw).update(from: vRow.baseAddress!, count: w / 2)
                }
            } else {
                let row = base + y * stride
                for x in 0..<(w / 2) {
                    row[4 * x] = lumaRow[2 * x]
                    row[4 * x + 1] = uRow[x]
                    row[4 * x + 2] = lumaRow[2 * x + 1]
                    row[4 * x + 3] = vRow[x]
                }
            }
        }
        drawLabel(frame: k, utc: utc)
    }

    /// Burns "#0000123 2026-01-01T08:00:04.100Z" into the top-left corner, white on black.
    private func drawLabel(frame k: UInt64, utc: Int64) {
        var w = ASCIIWriter(label)
        w.byte("#"); w.digits(Int(k % 10_000_000), 7); w.byte(" "); UTC.writeISO(utc, to: &w)
        let scale = max(1, geometry.height / 240)
        let margin = 2 * scale
        let boxW = min(geometry.width, margin * 2 + w.count * 6 * scale)
        let boxH = min(geometry.height, margin * 2 + 7 * scale)
        for y in 0..<boxH {
            for x in 0..<boxW {
                var on = false
                let gx = x - margin, gy = y - margin
                if gx >= 0, gy >= 0, gy < 7 * scale {
                    let ch = gx / (6 * scale), col = (gx / scale) % 6
                    if ch < w.count, col < 5 {
                        on = (Font5x7.row(label[ch], gy / scale) >> (4 - col)) & 1 == 1
                    }
                }
                setPixel(x: x, y: y, luma: on ? 235 : 16)
            }
        }
    }

    private func setPixel(x: Int, y: Int, luma: UInt8) {
        let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
        if geometry.format == .i420 {
            base[y * geometry.stride + x] = luma
            let cw = geometry.stride / 2, plane = geometry.stride * geometry.height
            base[plane + (y / 2) * cw + x / 2] = 128
            base[plane + cw * (geometry.height / 2) + (y / 2) * cw + x / 2] = 128
        } else {
            let row = base + y * geometry.width * 2
            row[2 * x] = luma
            row[2 * x + 1] = 128 // U for even x, V for odd x: neutral chroma under the label
        }
    }
}

/// SplitMix64: a tiny, well-mixed, seedable generator; determinism matters more than quality here.
public struct SplitMix64 {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }
    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
