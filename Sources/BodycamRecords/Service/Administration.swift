import BodycamEvidence

/// A refused administrative command: one line for the terminal.
public struct AdminError: Error, CustomStringConvertible {
    public var description: String
    /// The thing exists already (the HTTP API answers 409, so a provisioning script can run again).
    public var exists: Bool
    public init(_ description: String, exists: Bool = false) { (self.description, self.exists) = (description, exists) }
}

/// The administrator's operations, run on the service host against the data folder (like a database's
/// own tools). Each change and its custody entry (actor `admin`) commit together.
extension RecordsService {
    public static let adminActor = "admin"

    /// Issues a one-time enrolment token for `deviceID`, valid for `lifetime` nanoseconds. Returns the
    /// token (the secret and the hash of this service's key, `RecordsWire.enrolmentToken`); only its
    /// SHA-256 is stored.
    public func issueEnrolmentToken(deviceID: String, lifetime: Int64, actor: String = adminActor) throws -> String {
        guard FrameStamp.isValidDeviceID(deviceID) else { throw AdminError("'\(deviceID.prefix(40))' is not a device id (1-32 of A-Z a-z 0-9 - _)") }
        guard lifetime > 0 else { throw AdminError("the token's lifetime must be positive") }
        let token = RecordsWire.enrolmentToken(secret: Secrets.newToken(), serviceKey: identity.publicKey)
        let utc = clock()
        try catalogue.writeNow { tx in
            try tx.insertToken(EnrolmentToken(sha256: Secrets.hash(token), deviceID: deviceID, issuedUTC: utc, expiresUTC: utc + lifetime))
            try custody.append(tx, utc: utc, actor: actor, action: .enrol, deviceID: deviceID,
                               detail: "one-time enrolment token issued, expires \(UTC.iso(utc + lifetime))")
        }
        return token
    }

    /// Revokes a device: its next request is refused, and it can enrol again only with a new token and a
    /// new key. Its pin stays in the history, marked revoked: what it received before still verifies.
    public func revoke(deviceID: String) throws {
        let utc = clock()
        try catalogue.writeNow { tx in
            guard var d = try tx.device(deviceID) else { throw AdminError("\(deviceID) is not enrolled") }
            guard d.state == .enrolled else { throw AdminError("\(deviceID) is revoked already") }
            d.state = .revoked
            d.revokedUTC = utc
            d.officer = nil
            try tx.saveDevice(d)
            if var pin = try tx.pins(deviceID: deviceID).first(where: { $0.key == d.key }) {
                pin.revokedUTC = utc
                try tx.savePin(pin)
            }
            try custody.append(tx, utc: utc, actor: Self.adminActor, action: .revoke, deviceID: deviceID,
                               detail: "revoked (key \(d.key.fingerprint) no longer accepted)")
        }
    }

    public func addOfficer(id: String, name: String, trained: Bool, actor: String = adminActor) throws {
        guard EvidenceNames.isValidOfficerID(id) else { throw AdminError("'\(id.prefix(40))' is not an officer id (1-32 of A-Z a-z 0-9 - _)") }
        guard (1...100).contains(name.utf8.count), !name.unicodeScalars.contains(where: { $0.value < 32 }) else {
            throw AdminError("the officer's name must be 1-100 bytes of printable text")
        }
        let utc = clock()
        try catalogue.writeNow { tx in
            guard try tx.officer(id) == nil else { throw AdminError("officer \(id) exists already", exists: true) }
            try tx.saveOfficer(OfficerRecord(officerID: id, name: name, trained: trained, active: true))
            try custody.append(tx, utc: utc, actor: actor, action: .officer, officer: id,
                               detail: "officer added (\(trained ? "trained" : "not trained"))")
        }
    }

    /// Records that an officer completed body-worn video training.
    public func trainOfficer(id: String) throws {
        try changeOfficer(id, detail: "trained") { $0.trained = true }
    }

    public func deactivateOfficer(id: String) throws {
        try changeOfficer(id, detail: "deactivated") { $0.active = false }
    }

    private func changeOfficer(_ id: String, detail: String, _ change: (inout OfficerRecord) -> Void) throws {
        let utc = clock()
        try catalogue.writeNow { tx in
            guard var o = try tx.officer(id) else { throw AdminError("officer \(id) is not known") }
            change(&o)
            try tx.saveOfficer(o)
            try custody.append(tx, utc: utc, actor: Self.adminActor, action: .officer, officer: id, detail: "officer \(detail)")
        }
    }

    /// Adds a user of the people API; returns the bearer token (only its SHA-256 is stored).
    public func addUser(name: String, role: UserRecord.Role, officer: String?) throws -> String {
        guard UserRecord.isValidName(name) else { throw AdminError("'\(name.prefix(40))' is not a user name (1-32 of A-Z a-z 0-9 - _ .)") }
        guard CustodyEntry.isValidActor(name), name != Self.adminActor, name != "service" else { throw AdminError("'\(name)' is reserved") }
        if role == .officer && officer == nil { throw AdminError("a user with the officer role needs --officer ID") }
        if role != .officer && officer != nil { throw AdminError("--officer is only for the officer role") }
        let token = Secrets.newToken()
        let utc = clock()
        try catalogue.writeNow { tx in
            guard try tx.user(name: name) == nil else { throw AdminError("user \(name) exists already") }
            if let officer { guard try tx.officer(officer) != nil else { throw AdminError("officer \(officer) is not known") } }
            try tx.insertUser(UserRecord(name: name, role: role, officer: officer, tokenSHA256: Secrets.hash(token)))
            try custody.append(tx, utc: utc, actor: Self.adminActor, action: .user, officer: officer,
                               detail: "user \(name) added with role \(role.rawValue)")
        }
        return token
    }
}
