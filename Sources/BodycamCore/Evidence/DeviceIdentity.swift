import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// The camera's identity: its id and an Ed25519 signing key, created on first boot in the state folder
/// (`device.key` readable by the owner only). Central records check the camera's signatures with the
/// public key in `device.json`.
public struct DeviceIdentity: @unchecked Sendable { // the key is immutable; signing has no shared state
    public let deviceID: String
    public let signingKey: Curve25519.Signing.PrivateKey
    public var publicKeyHex: String { Hex.encode(signingKey.publicKey.rawRepresentation) }

    public enum Failure: Error, CustomStringConvertible {
        case unreadable(String)
        case mismatch(stored: String, requested: String)
        public var description: String {
            switch self {
            case .unreadable(let s): return s
            case .mismatch(let stored, let requested):
                return "this storage belongs to device \(stored), not \(requested) (use another --storage)"
            }
        }
    }

    /// Loads the identity from `stateDirectory`, or creates it there on first boot with `deviceID`.
    /// `created` is set when a new identity was made.
    public static func loadOrCreate(stateDirectory: String, deviceID: String, utcNow: Int64) throws -> (DeviceIdentity, created: Bool) {
        let keyPath = stateDirectory + "/device.key", infoPath = stateDirectory + "/device.json"
        if let keyHex = FileBytes.readText(keyPath) {
            guard let raw = Hex.decode(keyHex.filter { !$0.isWhitespace }),
                  let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw),
                  let info = FileBytes.readText(infoPath), let stored = JSONText.stringField("device_id", in: info) else {
                throw Failure.unreadable("\(stateDirectory): device identity is damaged")
            }
            guard stored == deviceID else { throw Failure.mismatch(stored: stored, requested: deviceID) }
            return (DeviceIdentity(deviceID: stored, signingKey: key), false)
        }
        try PosixFile.makeDirectories(stateDirectory, mode: 0o700)
        let key = Curve25519.Signing.PrivateKey()
        let identity = DeviceIdentity(deviceID: deviceID, signingKey: key)
        try FileBytes.writeDurably(keyPath, Array(Hex.encode(key.rawRepresentation).utf8), mode: 0o600)
        let info = JSON.object([("device_id", .string(deviceID)), ("public_key", .string(identity.publicKeyHex)),
                                ("algorithm", .string("Ed25519")), ("created_utc", .string(UTC.iso(utcNow)))]).serialized
        try FileBytes.writeDurably(infoPath, Array((info + "\n").utf8), mode: 0o644)
        return (identity, true)
    }

    public func sign(_ bytes: [UInt8]) -> String {
        // Ed25519 signing cannot fail with a valid key.
        Base64.encode(Array(try! signingKey.signature(for: bytes)))
    }

    public static func verify(signature: String, of bytes: [UInt8], publicKeyHex: String) -> Bool {
        guard let raw = Hex.decode(publicKeyHex), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw),
              let sig = Base64.decode(signature) else { return false }
        return key.isValidSignature(sig, for: bytes)
    }
}

/// Lower-case hex.
public enum Hex {
    public static func encode<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// Standard base64 (RFC 4648), for signatures.
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = bytes[i], b1 = n > 1 ? bytes[i + 1] : 0, b2 = n > 2 ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(n > 1 ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : 61)
            out.append(n > 2 ? alphabet[Int(b2 & 63)] : 61)
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
    public static func decode(_ text: String) -> [UInt8]? {
        var values = [UInt8]()
        for c in text.utf8 {
            if c == 61 { break }
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            values.append(UInt8(v))
        }
        var out = [UInt8]()
        var i = 0
        while i + 1 < values.count {
            out.append(values[i] << 2 | values[i + 1] >> 4)
            if i + 2 < values.count { out.append((values[i + 1] & 15) << 4 | values[i + 2] >> 2) }
            if i + 3 < values.count { out.append((values[i + 2] & 3) << 6 | values[i + 3]) }
            i += 4
        }
        return out
    }
}

/// Small whole-file helpers for evidence files (manifests, keys, the audit log): not the frame path.
public enum FileBytes {
    public static func read(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            data.append(contentsOf: chunk[0..<n])
        }
        return ferror(f) == 0 ? data : nil
    }

    public static func readText(_ path: String) -> String? { read(path).map { String(decoding: $0, as: UTF8.self) } }

    /// Writes a new file completely and durably: temporary name, fsync, rename, fsync of the folder.
    public static func writeDurably(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(IOError) {
        let tmp = path + ".tmp"
        unlink(tmp)
        let f = try PosixFile.createNew(tmp, mode: mode)
        var failure: IOError?
        bytes.withUnsafeBytes { b in
            do throws(IOError) { try f.write(b); try f.sync() } catch { failure = error }
        }
        if let failure {
            f.close()
            unlink(tmp)
            throw failure
        }
        f.close()
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        try PosixFile.renameDurably(from: tmp, to: path, directory: dir)
    }

    /// SHA-256 of a whole file, streamed through `buffer` (the writer passes its preallocated one).
    public static func sha256(_ path: String, buffer: UnsafeMutableRawBufferPointer) -> String? {
        let fd = retrying { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var hasher = SHA256()
        while true {
            let n = retrying { Glibc.read(fd, buffer.baseAddress, buffer.count) }
            if n < 0 { return nil }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return Hex.encode(hasher.finalize())
    }

    /// SHA-256 of a whole file (tools and tests).
    public static func sha256(_ path: String) -> String? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        return sha256(path, buffer: buffer)
    }
}

/// Reading single fields from JSON text we wrote ourselves, without a JSON library on the device.
public enum JSONText {
    /// The string value of `"key":"value"` (no escapes inside the value).
    public static func stringField(_ key: String, in text: String) -> String? {
        guard let r = text.firstRange(of: "\"\(key)\":\"") else { return nil }
        let rest = text[r.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }
}
