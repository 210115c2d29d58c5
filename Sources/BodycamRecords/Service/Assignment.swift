import BodycamEvidence

extension RecordsService {
    /// `POST /v1/assign`: an officer checks the docked camera out. Only a known, active, trained officer;
    /// answers a signed `assignment` statement.
    public func assign(deviceID: String, officer: String) async throws -> [UInt8] {
        do {
            guard EvidenceNames.isValidOfficerID(officer) else { throw Refusal(.badRequest, "'\(officer.prefix(40))' is not an officer id") }
            let utc = clock()
            let (custody, identity) = (self.custody, self.identity)
            return try await catalogue.write { tx -> [UInt8] in
                guard let o = try tx.officer(officer) else { throw Refusal(.forbidden, "officer \(officer) is not known") }
                guard o.active else { throw Refusal(.forbidden, "officer \(officer) is not active") }
                guard o.trained else { throw Refusal(.forbidden, "officer \(officer) is not trained on body-worn video") }
                return try Self.changeOfficer(tx, deviceID: deviceID, to: officer, utc: utc, custody: custody, identity: identity) { previous in
                    "checked out to officer \(officer)" + (previous.map { " (ends the assignment to \($0))" } ?? "")
                }
            }
        } catch {
            throw await logged(error, deviceID: deviceID)
        }
    }

    /// `POST /v1/dock`: the camera is back in its dock; its current assignment (if any) ends. Answers a
    /// signed `checkin` statement.
    public func dock(deviceID: String) async throws -> [UInt8] {
        let utc = clock()
        let (custody, identity) = (self.custody, self.identity)
        return try await catalogue.write { tx -> [UInt8] in
            try Self.changeOfficer(tx, deviceID: deviceID, to: nil, utc: utc, custody: custody, identity: identity) { previous in
                previous.map { "docked: checked in from officer \($0)" } ?? "docked (no assignment)"
            }
        }
    }

    /// Who has the camera now (`officer`, nil: checked in), in one transaction with its custody entry and
    /// the signed statement the camera acts on (an `assignment`, or a `checkin` naming who had it).
    private static func changeOfficer(_ tx: any CatalogueTransaction, deviceID: String, to officer: String?, utc: Int64,
                                      custody: Custody, identity: ServiceIdentity,
                                      detail: (_ previous: String?) -> String) throws -> [UInt8] {
        guard var device = try tx.device(deviceID), device.state == .enrolled else { throw Refusal(.forbidden, "\(deviceID) is not enrolled") }
        let previous = device.officer
        device.officer = officer
        try tx.saveDevice(device)
        let named = officer ?? previous
        let statement = ServiceStatement(kind: officer == nil ? .checkin : .assignment, service: identity.fingerprint, deviceID: deviceID,
                                         utc: utc, custodySeq: try custody.nextSeq(tx), officer: named).signed(identity.sign)
        try custody.append(tx, utc: utc, actor: deviceID, action: officer == nil ? .checkin : .assign, deviceID: deviceID, officer: named,
                           detail: detail(previous))
        return statement
    }
}
