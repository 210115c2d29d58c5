/// The per-frame metadata every saved JPEG carries in a COM segment, so that a single frame pulled out of
/// a recording still says which camera took it, when (UTC), and where it sits in the capture sequence:
///
///     BWV1 dev=BWV-0001 seq=0000000123 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000
///
/// Fixed-width fields: the text is formatted into a preallocated buffer on every frame without allocating.
public struct FrameStamp: Equatable, Sendable {
    public var deviceID: String
    public var sequence: UInt64
    public var utc: Int64
    public var mono: Nanos

    public static let magic: StaticString = "BWV1"
    /// Longest device id we accept, so a stamp always fits its buffer.
    public static let maxDeviceIDLength = 32
    public static let capacity = 128

    /// Checks that a device id is 1-32 characters of letters, digits, '-' or '_'.
    public static func isValidDeviceID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= maxDeviceIDLength && id.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95
        }
    }

    /// Writes the stamp for one frame. `deviceID` is the pre-encoded ASCII id.
    public static func write(deviceID: UnsafeRawBufferPointer, sequence: UInt64, utc: Int64, mono: Nanos,
                             to w: inout ASCIIWriter) {
        w.text(magic); w.text(" dev="); w.bytes(deviceID)
        w.text(" seq="); w.digits(Int(sequence % 10_000_000_000), 10)
        w.text(" utc="); UTC.writeISO(utc, to: &w)
        w.text(" mono="); w.digits(Int(mono / Nanos.perSecond), 9); w.byte(".")
        w.digits(Int(mono % Nanos.perSecond), 9)
    }

    /// Reads a stamp back from COM segment bytes; nil if it is not one of ours.
    public static func parse<C: Collection>(_ bytes: C) -> FrameStamp? where C.Element == UInt8 {
        let text = String(decoding: bytes, as: UTF8.self)
        var fields: [Substring: Substring] = [:]
        let parts = text.split(separator: " ")
        guard parts.first == "BWV1" else { return nil }
        for part in parts.dropFirst() {
            guard let eq = part.firstIndex(of: "=") else { return nil }
            fields[part[..<eq]] = part[part.index(after: eq)...]
        }
        guard let dev = fields["dev"], let seqText = fields["seq"], let seq = UInt64(seqText),
              let utcText = fields["utc"], let utc = UTC.parse(String(utcText)),
              let monoText = fields["mono"] else { return nil }
        let monoParts = monoText.split(separator: ".")
        guard monoParts.count == 2, let s = Int64(monoParts[0]), let ns = Int64(monoParts[1]) else { return nil }
        return FrameStamp(deviceID: String(dev), sequence: seq, utc: utc, mono: s * Nanos.perSecond + ns)
    }
}
