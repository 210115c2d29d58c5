import BodycamEvidence
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The records service's own Ed25519 key: it signs pins, receipts, assignments and every custody entry.
/// Kept in `DATA/service.key` (64 hex digits and a newline, mode 0600), created on first start.
public struct ServiceIdentity: @unchecked Sendable { // the key is immutable; signing has no shared state
    public static let fileName = "service.key"
    public let signingKey: Curve25519.Signing.PrivateKey
    public var publicKey: PublicKey { PublicKey(raw: Array(signingKey.publicKey.rawRepresentation)) }
    public var fingerprint: String { publicKey.fingerprint }
    /// `RECORDS ed25519 <hex>`: what `bodycam-records key` prints for a camera or a checker to trust.
    public var keyLine: String { "RECORDS ed25519 \(publicKey.hex)" }

    public init(signingKey: Curve25519.Signing.PrivateKey) { self.signingKey = signingKey }

    public func sign(_ bytes: [UInt8]) -> Signature {
        // Ed25519 signing fails only on a broken key object, which `init` cannot build.
        Signature(raw: Array((try? signingKey.signature(for: bytes)) ?? Data()))
    }

    public enum Failure: Error, CustomStringConvertible {
        case damaged(String)
        case io(IOError)
        public var description: String {
            switch self {
            case .damaged(let s): return s
            case .io(let e): return "\(e)"
            }
        }
    }

    /// Loads `DATA/service.key`, or creates it if `create` and there is none.
    public static func load(dataDirectory: String, create: Bool) throws(Failure) -> ServiceIdentity {
        let path = dataDirectory + "/" + fileName
        let bytes: [UInt8]
        do { bytes = try FileBytes.contents(path, limit: 4096) } catch {
            guard case .missing = error, create else { throw .damaged("\(error)") }
            let identity = ServiceIdentity(signingKey: Curve25519.Signing.PrivateKey())
            do {
                try PosixFile.makeDirectories(dataDirectory, mode: 0o700)
                try FileBytes.writeDurably(path, Array((Hex.encode(identity.signingKey.rawRepresentation) + "\n").utf8), mode: 0o600)
            } catch { throw .io(error) }
            return identity
        }
        // A key others can read is no longer the service's alone: refuse rather than sign with it.
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & 0o077 == 0 else {
            throw .damaged("\(path): readable by others (mode must be 0600)")
        }
        var text = Substring(String(decoding: bytes, as: UTF8.self))
        if text.hasSuffix("\n") { text = text.dropLast() }
        guard let raw = Hex.decode(text, bytes: 32), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw .damaged("\(path): not a 32-byte Ed25519 key in hex")
        }
        return ServiceIdentity(signingKey: key)
    }
}
