/// The keys a checker was told to trust: one line per device, written when a camera is enrolled
/// (`bodycam key STORAGE` prints a device's line; central records keep the same file of the keys they
/// pinned). `bodycam verify` checks signatures against these keys only, never against a `device.json`
/// found next to the evidence, which anyone could replace.
///
///     # comment
///     BWV-0001 ed25519 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29
public struct TrustedKeys: Equatable, Sendable {
    public private(set) var keys: [String: PublicKey] = [:]
    public init() {}

    public static let maxFileBytes = 4 << 20

    /// One line for `deviceID`'s key.
    public static func line(deviceID: String, key: PublicKey) -> String { "\(deviceID) ed25519 \(key.hex)" }

    /// Adds a key; a device may have only one.
    public mutating func add(deviceID: String, key: PublicKey) throws(EvidenceError) {
        if let existing = keys[deviceID], existing != key {
            throw EvidenceError("device \(deviceID) has two different keys (\(existing.fingerprint), \(key.fingerprint))")
        }
        keys[deviceID] = key
    }

    public subscript(deviceID: String) -> PublicKey? { keys[deviceID] }

    /// Parses the file strictly: every line a comment, blank, or `DEVICE ed25519 HEX`.
    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> TrustedKeys {
        var trusted = TrustedKeys()
        let text = String(decoding: bytes, as: UTF8.self)
        guard Array(text.utf8) == bytes else { throw EvidenceError("not UTF-8 text") }
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if words.isEmpty || words[0].hasPrefix("#") { continue }
            guard words.count == 3, words[1] == "ed25519", FrameStamp.isValidDeviceID(String(words[0])),
                  let key = PublicKey(hex: words[2]) else {
                throw EvidenceError("line \(i + 1): expected 'DEVICE-ID ed25519 <64 hex digits>'")
            }
            try trusted.add(deviceID: String(words[0]), key: key)
        }
        return trusted
    }

    public static func read(_ path: String) throws(EvidenceError) -> TrustedKeys {
        let bytes: [UInt8]
        do { bytes = try FileBytes.contents(path, limit: maxFileBytes) } catch { throw EvidenceError("\(error)") }
        do { return try parse(bytes) } catch { throw EvidenceError("\(path): \(error.message)") }
    }
}
