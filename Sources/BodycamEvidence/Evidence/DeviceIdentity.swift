import Crypto
import Foundation

/// The camera's identity: its id and an Ed25519 signing key, created on first boot in the state folder
/// (`device.key`, readable by the owner only; `device.json`, the public part). Nobody checks a signature
/// against `device.json` itself: a checker trusts keys it was given (`TrustedKeys`), and central records
/// pin the key a device first presented.
public struct DeviceIdentity: @unchecked Sendable { // the key is immutable; signing has no shared state
    public let signingKey: Curve25519.Signing.PrivateKey
    /// device.json: id, public key, when it was made.
    public let info: DeviceInfo
    public var deviceID: String { info.deviceID }
    public var publicKey: PublicKey { info.publicKey }

    init(signingKey: Curve25519.Signing.PrivateKey, deviceID: String, createdUTC: Int64) {
        self.signingKey = signingKey
        info = DeviceInfo(deviceID: deviceID, publicKey: PublicKey(raw: Array(signingKey.publicKey.rawRepresentation)), createdUTC: createdUTC)
    }

    public static let keyFileName = "device.key"
    public static let infoFileName = "device.json"

    public enum Failure: Error, CustomStringConvertible {
        /// The key or device.json is damaged (unreadable, malformed, or not a pair).
        case damaged(String)
        case mismatch(stored: String, requested: String)
        case io(IOError)
        public var description: String {
            switch self {
            case .damaged(let s): return s
            case .mismatch(let stored, let requested):
                return "this storage belongs to device \(stored), not \(requested) (use another --storage)"
            case .io(let e): return "\(e)"
            }
        }
    }

    /// Loads the identity from `stateDirectory`. Nil if there is none yet (first boot).
    public static func load(stateDirectory: String, deviceID: String) throws(Failure) -> DeviceIdentity? {
        let keyPath = stateDirectory + "/" + keyFileName, infoPath = stateDirectory + "/" + infoFileName
        let keyBytes: [UInt8]
        do { keyBytes = try FileBytes.contents(keyPath, limit: 4096) } catch {
            if case .missing = error, (try? FileBytes.contents(infoPath, limit: 1)) == nil { return nil }
            throw .damaged("\(keyPath): \(error)")
        }
        // Exactly 64 lower-case hex digits, optionally one newline.
        var keyText = Substring(String(decoding: keyBytes, as: UTF8.self))
        if keyText.hasSuffix("\n") { keyText = keyText.dropLast() }
        guard let raw = Hex.decode(keyText, bytes: 32),
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw .damaged("\(keyPath): not a 32-byte Ed25519 key in hex")
        }
        let info: DeviceInfo
        do { info = try DeviceInfo.read(infoPath) } catch { throw .damaged("\(error)") }
        let identity = DeviceIdentity(signingKey: key, deviceID: info.deviceID, createdUTC: info.createdUTC)
        guard info.publicKey == identity.publicKey else { throw .damaged("\(infoPath): its public key is not the device key's") }
        guard info.deviceID == deviceID else { throw .mismatch(stored: info.deviceID, requested: deviceID) }
        return identity
    }

    /// Makes a new identity for `deviceID` in `stateDirectory` (first boot, or after a damaged one was quarantined).
    public static func create(stateDirectory: String, deviceID: String, utcNow: Int64) throws(Failure) -> DeviceIdentity {
        let identity = DeviceIdentity(signingKey: Curve25519.Signing.PrivateKey(), deviceID: deviceID, createdUTC: utcNow)
        do {
            try PosixFile.makeDirectories(stateDirectory, mode: 0o700)
            try FileBytes.writeDurably(stateDirectory + "/" + keyFileName,
                                       Array((Hex.encode(identity.signingKey.rawRepresentation) + "\n").utf8), mode: 0o600)
            try FileBytes.writeDurably(stateDirectory + "/" + infoFileName, identity.info.bytes, mode: 0o644)
        } catch {
            throw .io(error)
        }
        return identity
    }

    /// Loads the identity, or creates it on first boot. `created` is set when a new identity was made.
    public static func loadOrCreate(stateDirectory: String, deviceID: String, utcNow: Int64) throws(Failure) -> (DeviceIdentity, created: Bool) {
        if let existing = try load(stateDirectory: stateDirectory, deviceID: deviceID) { return (existing, false) }
        return (try create(stateDirectory: stateDirectory, deviceID: deviceID, utcNow: utcNow), true)
    }

    /// Signs `bytes` (Ed25519; cannot fail with a valid key).
    public func sign(_ bytes: [UInt8]) -> Signature {
        Signature(raw: Array(try! signingKey.signature(for: bytes)))
    }
}

/// An Ed25519 public key, and the fingerprint by which people name it.
public struct PublicKey: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let raw: [UInt8]
    public init(raw: [UInt8]) { self.raw = raw }
    /// From 64 lower-case hex digits (device.json, trusted-keys files).
    public init?<S: StringProtocol>(hex: S) {
        guard let raw = Hex.decode(hex, bytes: 32), (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil else { return nil }
        self.raw = raw
    }
    public var hex: String { Hex.encode(raw) }
    /// `SHA256:` and the first 16 hex digits of the key's SHA-256: what verify prints and people compare.
    public var fingerprint: String { "SHA256:" + fingerprintHex }
    /// The fingerprint's 16 hex digits alone: what names a key in a file name (court bundle pins) or a
    /// catalogue row, where the `SHA256:` prefix's colon does not belong.
    public var fingerprintHex: String { String(Hex.sha256(raw).prefix(16)) }
    /// True for 16 lower-case hex digits: the form `fingerprintHex` has.
    public static func isFingerprintHex<S: StringProtocol>(_ s: S) -> Bool {
        s.utf8.count == 16 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
    public var description: String { fingerprint }

    public func isValidSignature(_ signature: Signature, for bytes: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
        return key.isValidSignature(signature.raw, for: bytes)
    }
}

/// A 64-byte Ed25519 signature, written as canonical base64 (one line).
public struct Signature: Equatable, Sendable {
    public let raw: [UInt8]
    public init(raw: [UInt8]) { self.raw = raw }
    public var base64: String { Data(raw).base64EncodedString() }

    /// Strict: canonical base64 of exactly 64 bytes (no whitespace, no other padding bits).
    public init?<S: StringProtocol>(base64 text: S) {
        let s = String(text)
        guard let data = Data(base64Encoded: s), data.count == 64, data.base64EncodedString() == s else { return nil }
        raw = Array(data)
    }

    /// A `.sig` file: the base64 line and one newline, nothing else.
    public var fileBytes: [UInt8] { Array((base64 + "\n").utf8) }
    public init?(fileBytes: [UInt8]) {
        guard fileBytes.last == 10 else { return nil }
        self.init(base64: String(decoding: fileBytes.dropLast(), as: UTF8.self))
    }
}

/// `device.json`: the device's id and public key, as the camera wrote it.
public struct DeviceInfo: Equatable, Sendable {
    public static let algorithm = "Ed25519"
    public var deviceID: String
    public var publicKey: PublicKey
    public var createdUTC: Int64

    public init(deviceID: String, publicKey: PublicKey, createdUTC: Int64) {
        self.deviceID = deviceID
        self.publicKey = publicKey
        self.createdUTC = createdUTC
    }

    public var bytes: [UInt8] {
        Array((JSON.object([("device_id", .string(deviceID)), ("public_key", .string(publicKey.hex)),
                            ("algorithm", .string(Self.algorithm)), ("created_utc", .string(UTC.iso(createdUTC)))])
            .serialized + "\n").utf8)
    }

    private struct Wire: Decodable {
        var device_id: String
        var public_key: String
        var algorithm: String
        var created_utc: String
    }

    /// Parses device.json strictly: every field valid, and the bytes exactly as the camera writes them.
    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> DeviceInfo {
        let wire: Wire
        do { wire = try JSONDecoder().decode(Wire.self, from: Data(bytes)) } catch { throw EvidenceError("not a device.json") }
        guard FrameStamp.isValidDeviceID(wire.device_id) else { throw EvidenceError("device id is not valid") }
        guard wire.algorithm == algorithm, let key = PublicKey(hex: wire.public_key) else { throw EvidenceError("public key is not a hex Ed25519 key") }
        guard let created = UTC.parse(wire.created_utc) else { throw EvidenceError("created_utc is not a time") }
        let info = DeviceInfo(deviceID: wire.device_id, publicKey: key, createdUTC: created)
        guard info.bytes == bytes else { throw EvidenceError("not in the form the camera writes (edited?)") }
        return info
    }

    public static func read(_ path: String) throws(EvidenceError) -> DeviceInfo {
        let bytes: [UInt8]
        do { bytes = try FileBytes.contents(path, limit: 4096) } catch { throw EvidenceError("\(error)") }
        do { return try parse(bytes) } catch { throw EvidenceError("\(path): \(error.message)") }
    }
}

/// Why an evidence file (manifest, signature, audit entry, key file) was refused: one clear line.
public struct EvidenceError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
