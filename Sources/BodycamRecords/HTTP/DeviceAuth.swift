import BodycamEvidence
import Hummingbird

/// Authenticates a device request (`Authorization: Bodycam-Ed25519 device=ID seq=N sig=B64`) in two steps:
/// who it claims to be, before the body is read (unknown and revoked devices are refused there); then the
/// signature over method, target, sequence and body against the PINNED key, and the sequence number above
/// the last accepted, stored in the same transaction. Every refusal is written to the custody log.
struct DeviceAuth: Sendable {
    let service: RecordsService

    /// The claimed device, known and not revoked.
    func identify(_ request: Request) async throws -> (RequestSignature, DeviceRecord) {
        guard let header = request.headers[.authorization], let sig = RequestSignature.parse(header) else {
            throw await service.logged(Refusal(.unauthenticated, "missing or malformed 'Authorization: \(RequestSignature.scheme) device=ID seq=N sig=B64'"),
                                       deviceID: nil)
        }
        let device: DeviceRecord?
        do { device = try await service.catalogue.read { try $0.device(sig.device) } } catch { throw Refusal.storage(error, "catalogue") }
        guard let device else { throw await service.logged(Refusal(.forbidden, "\(sig.device) is not enrolled here"), deviceID: sig.device) }
        guard device.state == .enrolled else { throw await service.logged(Refusal(.forbidden, "\(sig.device) is revoked"), deviceID: sig.device) }
        return (sig, device)
    }

    /// Checks the signature against the pinned key and takes the sequence number. A request signed by any
    /// other key (an impostor using a known id) is refused; so is a sequence number not above the last.
    func verify(_ sig: RequestSignature, device: DeviceRecord, request: Request, body: [UInt8]) async throws {
        let target = request.head.path ?? ""
        guard sig.isValid(key: device.key, method: request.method.rawValue, target: target, bodySHA256: Hex.sha256(body)) else {
            throw await service.logged(Refusal(.forbidden, "the request's signature does not verify with the key pinned for \(sig.device)"),
                                       deviceID: sig.device)
        }
        do {
            try await service.catalogue.write { tx in
                // Read again inside the transaction: a revocation committed since `identify` counts.
                guard var d = try tx.device(sig.device), d.state == .enrolled, d.key == device.key else {
                    throw Refusal(.forbidden, "\(sig.device) is revoked")
                }
                guard sig.seq > d.lastSeq else {
                    throw Refusal(.conflict, "sequence \(sig.seq) is not above the last accepted, \(d.lastSeq) (replayed or stale)", lastSeq: d.lastSeq)
                }
                d.lastSeq = sig.seq
                try tx.saveDevice(d)
            }
        } catch {
            throw await service.logged(error, deviceID: sig.device)
        }
    }
}
