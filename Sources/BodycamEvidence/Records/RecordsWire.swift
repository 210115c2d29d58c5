import Crypto
import Foundation

/// The wire protocol between a docked camera and the records service (`bodycam-records`), version 1:
/// one definition, used by the camera's client and by the service. HTTP/1.1; see docs/RECORDS.md.
///
/// Devices authenticate every request with their Ed25519 key (`RequestSignature`); the service answers
/// with statements signed by its own key (`ServiceStatement`: key pins, receipts, assignments). Nothing
/// a camera deletes rests on an unsigned answer.
public enum RecordsWire {
    /// The most a file chunk (one PUT) may carry; larger bodies are refused before they are read.
    public static let maxChunkBytes = 4 << 20
    /// The most any JSON request body may carry.
    public static let maxJSONBytes = 64 << 10

    public static let enrolPath = "/v1/enrol"
    /// The camera was docked: its current officer (if any) is checked in.
    public static let dockPath = "/v1/dock"
    /// An officer checks the docked camera out (badge tap).
    public static let assignPath = "/v1/assign"

    /// `/v1/devices/DEV-000001/files/DEV-000001-000003/DEV-000001-000003_001.avi`. Only names that
    /// `RecordsNames.isAcceptable` accepts are ever built or served.
    public static func filePath(device: String, folder: String, file: String) -> String {
        "/v1/devices/\(device)/files/\(folder)/\(file)"
    }

    /// Splits a file path back into its names; nil unless it is exactly that form with acceptable names.
    public static func parseFilePath(_ path: Substring) -> (device: String, folder: String, file: String)? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 7, parts[0].isEmpty, parts[1] == "v1", parts[2] == "devices", parts[4] == "files" else { return nil }
        let (device, folder, file) = (String(parts[3]), String(parts[5]), String(parts[6]))
        guard RecordsNames.isAcceptable(device: device, folder: folder, file: file) else { return nil }
        return (device, folder, file)
    }

    /// What the service holds under a file name (answer to GET on a file path with `?sha256=`).
    public enum FileState: String, Codable, Sendable {
        /// Nothing yet.
        case absent
        /// An unfinished upload of `offset` bytes: send from there.
        case partial
        /// Stored and verified with the SHA-256 asked about.
        case same
        /// Stored with other contents: write-once, refused.
        case different
    }

    public struct FileStatus: Codable, Equatable, Sendable {
        public var state: FileState
        public var offset: Int
        public init(state: FileState, offset: Int) { (self.state, self.offset) = (state, offset) }
    }

    /// Body of every error answer: `{"error": "...", "last_seq": N}` (last_seq only on a stale sequence).
    public struct ErrorBody: Codable, Equatable, Sendable {
        public var error: String
        public var last_seq: UInt64?
        /// With 503 (a node at its limit of uploads at once): seconds to wait before sending again, as the
        /// `Retry-After` header also says.
        public var retry_after: UInt32?
        public init(error: String, lastSeq: UInt64? = nil, retryAfter: UInt32? = nil) {
            (self.error, self.last_seq, self.retry_after) = (error, lastSeq, retryAfter)
        }
    }

    /// POST /v1/enrol: the one-time token an administrator issued for this device id, and device.json.
    public struct EnrolRequest: Codable, Equatable, Sendable {
        public var token: String
        public var device_json: String
        public init(token: String, deviceJSON: String) { (self.token, self.device_json) = (token, deviceJSON) }
    }

    /// The answer to an enrolment: the service's key, its signed pin of the device key, and an HMAC of the
    /// pin keyed by the one-time token, so the camera knows the answer comes from the service that issued
    /// the token (not from whoever answered on the network) before it pins the service key.
    public struct EnrolResponse: Codable, Equatable, Sendable {
        public var service_key: String
        public var pin: String
        public var token_mac: String
        public init(serviceKey: PublicKey, pin: [UInt8], token: String) {
            service_key = serviceKey.hex
            self.pin = String(decoding: pin, as: UTF8.self)
            token_mac = Self.mac(pin: pin, token: token)
        }
        public static func mac(pin: [UInt8], token: String) -> String {
            Hex.encode(Array(HMAC<SHA256>.authenticationCode(for: pin, using: SymmetricKey(data: Array(token.utf8)))))
        }
        public func isFromTokenIssuer(token: String) -> Bool {
            let expected = Self.mac(pin: Array(pin.utf8), token: token)
            // Constant-time compare: the MAC is a secret-derived value.
            return expected.utf8.count == token_mac.utf8.count && zip(expected.utf8, token_mac.utf8).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
        }
    }

    /// A one-time enrolment token names the service key it is for: `<64 hex: the secret>.<32 hex: the
    /// start of the SHA-256 of the service's public key>`. The secret alone cannot protect the first dock:
    /// it travels in the enrolment request, so whoever is on the path reads it and can MAC an answer with
    /// it; the key hash, which never needs to be secret, lets the camera pin only the key the token was
    /// issued by (as `kubeadm join` pins its CA by hash).
    public static let tokenKeyHashDigits = 32

    public static func enrolmentToken(secret: String, serviceKey: PublicKey) -> String {
        secret + "." + Hex.sha256(serviceKey.raw).prefix(tokenKeyHashDigits)
    }

    /// True if `token` names `key` (a token without a key hash names none).
    public static func token(_ token: String, names key: PublicKey) -> Bool {
        guard let dot = token.utf8.lastIndex(of: UInt8(ascii: ".")) else { return false }
        let hash = token.utf8[token.utf8.index(after: dot)...]
        return hash.count == tokenKeyHashDigits && hash.elementsEqual(Hex.sha256(key.raw).utf8.prefix(tokenKeyHashDigits))
    }

    /// POST /v1/assign.
    public struct AssignRequest: Codable, Equatable, Sendable {
        public var officer: String
        public init(officer: String) { self.officer = officer }
    }

    /// A successful answer carrying a signed statement (receipt, assignment, dock/check-in).
    public struct StatementResponse: Codable, Equatable, Sendable {
        public var statement: String
        public init(statement: [UInt8]) { self.statement = String(decoding: statement, as: UTF8.self) }
    }

    /// Strict JSON decoding of a bounded body; nil on anything else.
    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        guard bytes.count <= maxJSONBytes else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(bytes))
    }

    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? e.encode(value)) ?? Data("{}".utf8))
    }
}

/// `Authorization: Bodycam-Ed25519 device=DEV-000001 seq=42 sig=<base64>`: the device signs the method,
/// the request target (path and query), its own id, a sequence number and the SHA-256 of the body. The
/// service accepts a sequence number only if it is above the last one it accepted from that device, so a
/// captured request cannot be replayed; a camera that lost count learns the last one from the refusal
/// (`ErrorBody.last_seq`, status 409) and goes on above it.
public struct RequestSignature: Equatable, Sendable {
    public static let scheme = "Bodycam-Ed25519"
    public var device: String
    public var seq: UInt64
    public var signature: Signature

    public init(device: String, seq: UInt64, signature: Signature) {
        (self.device, self.seq, self.signature) = (device, seq, signature)
    }

    public static func message(method: String, target: String, device: String, seq: UInt64, bodySHA256: String) -> [UInt8] {
        Array("bodycam-request/1\n\(method)\n\(target)\n\(device)\n\(seq)\n\(bodySHA256)\n".utf8)
    }

    public static func sign(_ identity: DeviceIdentity, method: String, target: String, seq: UInt64, body: UnsafeRawBufferPointer) -> RequestSignature {
        let digest = Hex.encode(Array(SHA256.hash(data: body)))
        let m = message(method: method, target: target, device: identity.deviceID, seq: seq, bodySHA256: digest)
        return RequestSignature(device: identity.deviceID, seq: seq, signature: identity.sign(m))
    }

    public var header: String { "\(Self.scheme) device=\(device) seq=\(seq) sig=\(signature.base64)" }

    /// Total: nil unless exactly the form `header` writes.
    public static func parse(_ header: String) -> RequestSignature? {
        let parts = header.split(separator: " ", omittingEmptySubsequences: false)
        guard header.utf8.count <= 200, parts.count == 4, parts[0] == scheme,
              parts[1].hasPrefix("device="), parts[2].hasPrefix("seq="), parts[3].hasPrefix("sig=") else { return nil }
        let device = String(parts[1].dropFirst(7)), seqText = parts[2].dropFirst(4)
        guard FrameStamp.isValidDeviceID(device), (1...20).contains(seqText.count), seqText.utf8.allSatisfy(EvidenceNames.isDigit),
              seqText.first != "0", let seq = UInt64(seqText), let sig = Signature(base64: parts[3].dropFirst(4)) else { return nil }
        return RequestSignature(device: device, seq: seq, signature: sig)
    }

    public func isValid(key: PublicKey, method: String, target: String, bodySHA256: String) -> Bool {
        key.isValidSignature(signature, for: Self.message(method: method, target: target, device: device, seq: seq, bodySHA256: bodySHA256))
    }
}
