import BodycamEvidence

extension Refusal {
    /// Refusals of who is asking (unsigned, unknown, revoked, impostor, replayed, not allowed): each one is
    /// written to the custody log. Malformed or oversized requests and integrity failures are answered only.
    public var isLogged: Bool { kind == .unauthenticated || kind == .forbidden || lastSeq != nil }
}

extension RecordsService {
    /// Logs `error` in the custody log if it is a refusal of who is asking, and returns it to throw.
    func logged(_ error: any Error, deviceID: String?) async -> any Error {
        guard let r = error as? Refusal, r.isLogged else { return error }
        return await refuse(r, deviceID: deviceID)
    }

    /// `POST /v1/enrol`: pins the device key from `device_json` with a one-time token. The request must be
    /// signed by that key as that device. The token must be known, unused, unexpired and issued for this
    /// device. An enrolled device may enrol again with the same key (the same pin is answered); another
    /// key needs a revocation and a token issued after it, and must be new: a key once pinned for the
    /// device and revoked (a lost camera's) is never pinned again. Every pin is kept (`PinRecord`).
    public func enrol(signature sig: RequestSignature, method: String, target: String, body: [UInt8]) async throws -> RecordsWire.EnrolResponse {
        do {
            return try await enrolChecked(sig, method: method, target: target, body: body)
        } catch {
            throw await logged(error, deviceID: sig.device)
        }
    }

    private func enrolChecked(_ sig: RequestSignature, method: String, target: String, body: [UInt8]) async throws -> RecordsWire.EnrolResponse {
        guard let request = RecordsWire.decode(RecordsWire.EnrolRequest.self, body) else {
            throw Refusal(.badRequest, "not an enrolment request ({\"token\":…,\"device_json\":…})")
        }
        let info: DeviceInfo
        do { info = try DeviceInfo.parse(Array(request.device_json.utf8)) } catch {
            throw Refusal(.badRequest, "device_json: \(error.message)")
        }
        guard info.deviceID == sig.device else {
            throw Refusal(.forbidden, "device_json is device \(info.deviceID)'s, the request is signed as \(sig.device)")
        }
        guard sig.isValid(key: info.publicKey, method: method, target: target, bodySHA256: Hex.sha256(body)) else {
            throw Refusal(.forbidden, "the enrolment request is not signed by the key in its device_json")
        }
        let tokenHash = Secrets.hash(request.token)
        let utc = clock()
        let (custody, identity) = (self.custody, self.identity)
        let pin = try await catalogue.write { tx -> [UInt8] in
            guard let token = try tx.token(sha256: tokenHash) else { throw Refusal(.forbidden, "unknown enrolment token") }
            guard token.deviceID == info.deviceID else { throw Refusal(.forbidden, "the enrolment token was issued for another device") }
            guard token.usedUTC == nil else { throw Refusal(.forbidden, "the enrolment token was used already (one-time)") }
            guard utc < token.expiresUTC else { throw Refusal(.forbidden, "the enrolment token expired at \(UTC.iso(token.expiresUTC))") }
            if let existing = try tx.device(info.deviceID) {
                switch existing.state {
                case .enrolled:
                    guard existing.key == info.publicKey else {
                        throw Refusal(.forbidden, "\(info.deviceID) is enrolled with another key (\(existing.key.fingerprint)): revoke it and issue a new token first")
                    }
                    guard sig.seq > existing.lastSeq else {
                        throw Refusal(.conflict, "sequence \(sig.seq) is not above the last accepted, \(existing.lastSeq)", lastSeq: existing.lastSeq)
                    }
                    // Idempotent: the same key stays pinned and the same pin is answered.
                    var d = existing
                    d.lastSeq = sig.seq
                    try tx.saveDevice(d)
                    try tx.markTokenUsed(sha256: tokenHash, utc: utc)
                    try custody.append(tx, utc: utc, actor: info.deviceID, action: .enrol, deviceID: info.deviceID,
                                       detail: "enrolled again with the same key \(info.publicKey.fingerprint) (token used)")
                    return existing.pin
                case .revoked:
                    guard token.issuedUTC >= (existing.revokedUTC ?? .max) else {
                        throw Refusal(.forbidden, "the enrolment token was issued before \(info.deviceID) was revoked: issue a new one")
                    }
                    guard try !tx.pins(deviceID: info.deviceID).contains(where: { $0.key == info.publicKey }) else {
                        throw Refusal(.forbidden, "key \(info.publicKey.fingerprint) was revoked for \(info.deviceID): enrol it again with a new key")
                    }
                }
            }
            let pin = ServiceStatement(kind: .pin, service: identity.fingerprint, deviceID: info.deviceID, utc: utc,
                                       custodySeq: try custody.nextSeq(tx), deviceKey: info.publicKey).signed(identity.sign)
            try custody.append(tx, utc: utc, actor: info.deviceID, action: .enrol, deviceID: info.deviceID,
                               detail: "key \(info.publicKey.fingerprint) pinned (pin statement sha256 \(Hex.sha256(pin)))")
            try tx.saveDevice(DeviceRecord(deviceID: info.deviceID, key: info.publicKey, state: .enrolled, lastSeq: sig.seq,
                                           enrolledUTC: utc, pin: pin))
            try tx.savePin(PinRecord(deviceID: info.deviceID, key: info.publicKey, pin: pin, enrolledUTC: utc))
            try tx.markTokenUsed(sha256: tokenHash, utc: utc)
            return pin
        }
        return RecordsWire.EnrolResponse(serviceKey: identity.publicKey, pin: pin, token: request.token)
    }
}
