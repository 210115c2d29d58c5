/// The per-frame metadata every saved JPEG carries in a COM segment, so that a single frame pulled out of
/// a recording still says which camera took it, when (UTC), and where it sits in the capture sequence:
///
///     BWV1 dev=BWV-0001 seq=0000000123 src=0000000125 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000 off=PC-1234
///
/// `off` (absent when no officer has the camera) is the officer the camera is checked out to.
/// `seq` numbers the frames the camera stored; `src` is the source's own frame number (V4L2 `sequence`),
/// so a gap in `src` shows frames the driver skipped. Both are the low 10 digits.
/// Fixed-width fields: the text is formatted into a preallocated buffer on every frame without allocating,
/// and parsing accepts exactly that layout, nothing looser.
public struct FrameStamp: Equatable, Sendable {
    public var deviceID: String
    public var sequence: UInt64
    public var sourceSequence: UInt64
    public var utc: Int64
    public var mono: Nanos
    public var officer: String?

    public init(deviceID: String, sequence: UInt64, sourceSequence: UInt64, utc: Int64, mono: Nanos, officer: String? = nil) {
        self.officer = officer
        self.deviceID = deviceID
        self.sequence = sequence
        self.sourceSequence = sourceSequence
        self.utc = utc
        self.mono = mono
    }

    public static let magic: StaticString = "BWV1"
    /// Longest device id we accept, so a stamp always fits its buffer.
    public static let maxDeviceIDLength = 32
    /// Bytes of a stamp without the device id: "BWV1 dev=" (9), " seq=" + 10, " src=" + 10,
    /// " utc=" + 24, " mono=" + 19 = 93.
    static let fixedBytes = 93
    /// " off=" and an officer id of at most 32: 93 + 32 + 37 = 162 bytes at most.
    public static let capacity = 168
    static let maxOfficerBytes = 5 + 32
    static let sequenceModulus: UInt64 = 10_000_000_000

    /// Checks that a device id is 1-32 characters of letters, digits, '-' or '_'.
    public static func isValidDeviceID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= maxDeviceIDLength && id.utf8.allSatisfy(isDeviceIDByte)
    }

    @inline(__always) static func isDeviceIDByte(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 95
    }

    /// Writes the stamp for one frame. `deviceID` is the pre-encoded ASCII id; `sourceSequence` the
    /// source's own number for the frame.
    public static func write(deviceID: UnsafeRawBufferPointer, sequence: UInt64, sourceSequence: UInt64, utc: Int64,
                             mono: Nanos, officer: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                             to w: inout ASCIIWriter) {
        w.text(magic); w.text(" dev="); w.bytes(deviceID)
        w.text(" seq="); w.digits(Int(sequence % sequenceModulus), 10)
        w.text(" src="); w.digits(Int(sourceSequence % sequenceModulus), 10)
        w.text(" utc="); UTC.writeISO(utc, to: &w)
        w.text(" mono="); w.digits(Int(mono / Nanos.perSecond), 9); w.byte(".")
        w.digits(Int(mono % Nanos.perSecond), 9)
        if !officer.isEmpty { w.text(" off="); w.bytes(officer) }
    }

    /// Rewrites the ` seq=` digits of a stamp written by `write` (same length, so it can be done inside an
    /// encoded JPEG): `stamp` starts at the stamp's first byte. False if it does not look like one.
    public static func rewriteSequence(in stamp: UnsafeMutableRawBufferPointer, deviceIDLength: Int, to sequence: UInt64) -> Bool {
        let at = magic.utf8CodeUnitCount + 5 + deviceIDLength + 5
        guard stamp.count >= at + 10, stamp[at - 1] == UInt8(ascii: "=") else { return false }
        var w = ASCIIWriter(UnsafeMutableRawBufferPointer(rebasing: stamp[at..<(at + 10)]))
        w.digits(Int(sequence % sequenceModulus), 10)
        return true
    }

    /// For callers without a numbering of their own at the source (tests, the overhead benchmark):
    /// the source sequence is the stored one.
    public static func write(deviceID: UnsafeRawBufferPointer, sequence: UInt64, utc: Int64, mono: Nanos,
                             to w: inout ASCIIWriter) {
        write(deviceID: deviceID, sequence: sequence, sourceSequence: sequence, utc: utc, mono: mono, to: &w)
    }

    /// Reads a stamp back from COM segment bytes; nil if it is not exactly one of ours. Total: the length
    /// is checked before anything is copied, and every number is a fixed count of digits.
    public static func parse<C: Collection>(_ bytes: C) -> FrameStamp? where C.Element == UInt8 {
        guard bytes.count > fixedBytes, bytes.count <= fixedBytes + maxDeviceIDLength + maxOfficerBytes else { return nil }
        let b = Array(bytes)
        var p = 0
        func literal(_ s: StaticString) -> Bool {
            let ok = s.withUTF8Buffer { t in p + t.count <= b.count && b[p..<(p + t.count)].elementsEqual(t) }
            if ok { p += s.utf8CodeUnitCount }
            return ok
        }
        func digits(_ n: Int) -> UInt64? {
            guard p + n <= b.count else { return nil }
            var v: UInt64 = 0
            for i in p..<(p + n) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + UInt64(b[i] - 48) // at most 10 digits: no overflow
            }
            p += n
            return v
        }
        guard literal("BWV1 dev=") else { return nil }
        // The device id runs to the first space (ids have none).
        var idLength = 0
        while p + idLength < b.count, isDeviceIDByte(b[p + idLength]) { idLength += 1 }
        guard (1...maxDeviceIDLength).contains(idLength) else { return nil }
        let id = String(decoding: b[p..<(p + idLength)], as: UTF8.self)
        p += idLength
        guard literal(" seq="), let seq = digits(10), literal(" src="), let src = digits(10), literal(" utc="),
              p + 24 <= b.count, let utc = UTC.parse(String(decoding: b[p..<(p + 24)], as: UTF8.self)) else { return nil }
        p += 24
        guard literal(" mono="), let s = digits(9), literal("."), let ns = digits(9) else { return nil }
        var officer: String?
        if p < b.count {
            guard literal(" off=") else { return nil }
            let o = String(decoding: b[p...], as: UTF8.self)
            guard EvidenceNames.isValidOfficerID(o) else { return nil }
            officer = o
        }
        return FrameStamp(deviceID: id, sequence: seq, sourceSequence: src, utc: utc,
                          mono: Nanos(s) * Nanos.perSecond + Nanos(ns), officer: officer)
    }
}
