import BodycamEvidence

/// A storage error that can tell a full disk (ENOSPC, EDQUOT, SQLITE_FULL) from other failures.
public protocol StoreFailure: Error {
    var isOutOfSpace: Bool { get }
}

extension IOError: StoreFailure {}

/// Why the service said no, independent of HTTP: the HTTP layer maps `kind` to a status code and the
/// message to `ErrorBody`. The message is one clear line for the camera's log or a person.
public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case badRequest       // 400
        case unauthenticated  // 401: unsigned, malformed signature header, bad bearer token
        case forbidden        // 403: unknown, revoked or impostor device; a role without the right
        case notFound         // 404
        case conflict         // 409: stale sequence, wrong offset, write-once
        case tooLarge         // 413
        case integrity        // 422: bytes do not hash, manifest or head does not verify
        case full             // 507: the store is out of space
        case busy             // 503: at the limit of uploads at once, or this file is being worked on; retry later
        case failure          // 500
    }
    public var kind: Kind
    public var message: String
    /// With a stale sequence number: the last one accepted.
    public var lastSeq: UInt64?
    /// With `busy`: seconds after which to send again (the `Retry-After` header).
    public var retryAfter: UInt32?

    public init(_ kind: Kind, _ message: String, lastSeq: UInt64? = nil, retryAfter: UInt32? = nil) {
        (self.kind, self.message, self.lastSeq, self.retryAfter) = (kind, message, lastSeq, retryAfter)
    }

    public var description: String { message }

    /// A storage failure said as a refusal: out of space is 507, anything else 500.
    public static func storage(_ error: any Error, _ what: String) -> Refusal {
        if let e = error as? any StoreFailure, e.isOutOfSpace {
            return Refusal(.full, "the records store is full (\(what)): nothing was stored; keep your copy and retry later")
        }
        if let r = error as? Refusal { return r }
        return Refusal(.failure, "\(what): \(error)")
    }
}
