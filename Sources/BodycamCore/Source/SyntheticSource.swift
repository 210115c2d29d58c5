import BodycamEvidence
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
    /// The time burnt into the frames follows a dock clock sync.
    public func clockCorrected(by offset: Nanos) { utc.utcAtZero += offset }
    /// Loudness of the sensor noise, 0-64: 0 gives a clean pattern that compresses far too well.
    public let noise: Int

    private let clock: CameraClock
    /// Raw frames are rendered into these (one per frame that may be out at once), reused.
    private let buffers: [UnsafeMutableRawBufferPointer]
    private var bufferOut: [Bool]
    /// The buffer the frame being rendered goes into.
    private var raw: UnsafeMutableRawBufferPointer
    public var framesOutLimit: Int { buffers.count }
    private let jpeg: UnsafeMutableRawBufferPointer?     // its JPEG, for MJPEG output (reused)
    private let encoder: JPEGEncoder?
    /// A textured scene wider than the frame, in the frame's own layout, rendered once: each frame is a
    /// window onto it that pans with time, with every row jittered by a per-frame random offset so no two
    /// frames are alike. Copying rows is what makes synthetic frames cheap enough for a 12-hour shift.
    private let scene: UnsafeMutableRawBufferPointer
    private let sceneWidth: Int
    private let label: UnsafeMutableRawBufferPointer
    private let seed: UInt64
    private var startMono: Nanos = 0
    /// Frames since the last start (timing) and since creation (the source's sequence number).
    private var index: UInt64 = 0
    private var produced: UInt64 = 0
    private var damagedToGo = 0
    /// Whether the frame number and time are burnt in here (off when the frame path's overlay stamps
    /// the frames instead: one stamp per frame).
    private let drawsLabel: Bool
    /// Raw frames are rendered into a buffer owned here, rendered afresh every frame.
    public var framesAreWritable: Bool { encoder == nil }

    /// How far the view pans across the scene before it wraps (pixels).
    static let pan = 512

    /// - Parameters:
    ///   - format: `.yuyv`, `.i420`, or `.mjpeg` (rendered as YUYV, encoded at `jpegQuality`).
    ///   - framesOut: raw frames that may be out at once (each has its own buffer); MJPEG: always 1.
    public init?(width: Int, height: Int, fps: Int, format: PixelFormat, seed: UInt64, clock: CameraClock,
                 utc: UTCMapping, noise: Int = 6, jpegQuality: Int = 85, drawsLabel: Bool = true, framesOut: Int = 1) {
        guard width >= 16, height >= 16, width % 2 == 0, height % 2 == 0, fps >= 1, fps <= 240,
              (0...64).contains(noise), format != .nv12, (1...64).contains(framesOut) else { return nil }
        geometry = FrameGeometry(width: width, height: height, format: format)
        self.fps = fps
        frameInterval = Nanos.perSecond / Nanos(fps)
        self.clock = clock
        self.utc = utc
        self.noise = noise
        self.seed = seed
        self.drawsLabel = drawsLabel
        let rawGeometry = format == .mjpeg ? FrameGeometry(width: width, height: height, format: .yuyv) : geometry
        buffers = (0..<(format == .mjpeg ? 1 : framesOut)).map { _ in
            .allocate(byteCount: rawGeometry.rawFrameBytes, alignment: 64)
        }
        bufferOut = Array(repeating: false, count: buffers.count)
        raw = buffers[0]
        if format == .mjpeg {
            guard let e = JPEGEncoder(geometry: rawGeometry, quality: jpegQuality) else {
                buffers.forEach { $0.deallocate() }
                return nil
            }
            encoder = e
            jpeg = .allocate(byteCount: geometry.maxEncodedFrameBytes, alignment: 64)
        } else {
            encoder = nil
            jpeg = nil
        }
        sceneWidth = width + SyntheticSource.pan
        scene = .allocate(byteCount: FrameGeometry(width: sceneWidth, height: height, format: rawGeometry.format).rawFrameBytes,
                          alignment: 64)
        label = .allocate(byteCount: 64, alignment: 1)
        renderScene()
    }

    deinit {
        buffers.forEach { $0.deallocate() }
        jpeg?.deallocate()
        scene.deallocate()
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
        // Exact integer timing: frame N is at N/fps seconds, with no drift over a 12-hour shift.
        return startMono + Nanos(index) * Nanos.perSecond / Nanos(fps)
    }

    public func nextFrame() throws(FrameSourceError) -> CapturedFrame? {
        guard let mono = nextFrameDue else { return nil }
        clock.sleep(until: mono)
        guard let free = bufferOut.firstIndex(of: false) else {
            preconditionFailure("more synthetic frames taken than framesOutLimit")
        }
        raw = buffers[free]
        // With one buffer (and for MJPEG, whose frames come from `jpeg`) the next frame reuses it, as a
        // one-buffer source always has: only buffers of a pool are tracked.
        if encoder == nil && buffers.count > 1 { bufferOut[free] = true }
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
        return CapturedFrame(bytes: UnsafeRawBufferPointer(raw), mono: mono, sequence: sequence, isDamaged: damaged,
                             buffer: free)
    }

    public func releaseFrame(_ frame: CapturedFrame) {
        if frame.buffer < bufferOut.count { bufferOut[frame.buffer] = false }
    }
    public func stop() {}

    // MARK: - Rendering

    /// The scene: a diagonal gradient with smooth chroma bands under sensor-like noise.
    private func renderScene() {
        var rng = SplitMix64(seed: seed)
        let span = UInt64(2 * noise + 1)
        func grain() -> Int { noise == 0 ? 0 : Int(rng.next() % span) - noise }
        let sw = sceneWidth, h = geometry.height
        let base = scene.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let isI420 = geometry.format == .i420
        for y in 0..<h {
            for x in 0..<sw {
                let phase = (x + y / 2) % 512
                let luma = UInt8(clamping: 48 + (phase < 256 ? phase : 511 - phase) * 160 / 256 + grain())
                let c = grain() >> 2
                let u = UInt8(clamping: 128 + ((x / 4) & 63) - 32 + c)
                let v = UInt8(clamping: 128 + ((y / 4 + x / 8) & 63) - 32 - c)
                if isI420 {
                    base[y * sw + x] = luma
                    if y % 2 == 0 && x % 2 == 0 {
                        let plane = sw * h, cw = sw / 2
                        base[plane + (y / 2) * cw + x / 2] = u
                        base[plane + cw * (h / 2) + (y / 2) * cw + x / 2] = v
                    }
                } else {
                    base[y * sw * 2 + 2 * x] = luma
                    base[y * sw * 2 + 2 * x + 1] = x % 2 == 0 ? u : v
                }
            }
        }
    }

    private func render(frame k: UInt64, utc: Int64) {
        let w = geometry.width, h = geometry.height, sw = sceneWidth
        let src = UnsafeRawPointer(scene.baseAddress!), dst = raw.baseAddress!
        let shift = Int(k % UInt64(SyntheticSource.pan / 2)) * 2
        let isI420 = geometry.format == .i420
        for y in 0..<h {
            // Even offsets keep YUYV pairs (and I420 chroma) aligned.
            let jitter = Int(truncatingIfNeeded: SplitMix64.mix(seed ^ k &* 0x9E37_79B9 ^ UInt64(y) &* 0x85EB_CA6B)) & 62
            let x0 = (shift + jitter) % (SyntheticSource.pan - 64)
            if isI420 {
                (dst + y * geometry.stride).copyMemory(from: src + y * sw + x0, byteCount: w)
                if y % 2 == 0 {
                    let cw = geometry.stride / 2, scw = sw / 2
                    let plane = geometry.stride * h, splane = sw * h
                    let cy = y / 2
                    (dst + plane + cy * cw).copyMemory(from: src + splane + cy * scw + x0 / 2, byteCount: w / 2)
                    (dst + plane + cw * (h / 2) + cy * cw).copyMemory(from: src + splane + scw * (h / 2) + cy * scw + x0 / 2,
                                                                      byteCount: w / 2)
                }
            } else {
                (dst + y * geometry.stride).copyMemory(from: src + (y * sw + x0) * 2, byteCount: w * 2)
            }
        }
        drawBox(frame: k)
        if drawsLabel { drawLabel(frame: k, utc: utc) }
    }

    /// A bright box that moves across the picture.
    private func drawBox(frame k: UInt64) {
        let w = geometry.width, h = geometry.height, size = h / 4
        let bx = Int((k &* 4) % UInt64(w - size)), by = Int((k &* 2) % UInt64(h - size))
        for y in by..<(by + size) {
            for x in bx..<(bx + size) { setLuma(x: x, y: y, UInt8(200 + (x - bx) % 32)) }
        }
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
            for x in 0..<boxW { setLuma(x: x, y: y, 16) }
        }
        for ch in 0..<w.count {
            for gy in 0..<7 {
                let bits = Font5x7.row(label[ch], gy)
                guard bits != 0 else { continue }
                for col in 0..<5 where (bits >> (4 - col)) & 1 == 1 {
                    for dy in 0..<scale {
                        for dx in 0..<scale {
                            let x = margin + (ch * 6 + col) * scale + dx, y = margin + gy * scale + dy
                            if x < boxW && y < boxH { setLuma(x: x, y: y, 235) }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private func setLuma(x: Int, y: Int, _ luma: UInt8) {
        let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
        if geometry.format == .i420 {
            base[y * geometry.stride + x] = luma
        } else {
            base[y * geometry.stride + 2 * x] = luma
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
