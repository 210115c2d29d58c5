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
                guard var device = try tx.device(deviceID), device.state == .enrolled else { throw Refusal(.forbidden, "\(deviceID) is not enrolled") }
                let previous = device.officer
                device.officer = officer
                try tx.saveDevice(device)
                let statement = ServiceStatement(kind: .assignment, service: identity.fingerprint, deviceID: deviceID, utc: utc,
                                                 custodySeq: try custody.nextSeq(tx), officer: officer).signed(identity.sign)
                try custody.append(tx, utc: utc, actor: deviceID, action: .assign, deviceID: deviceID, officer: officer,
                                   detail: "checked out to officer \(officer)" + (previous.map { " (ends the assignment to \($0))" } ?? ""))
                return statement
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
            guard var device = try tx.device(deviceID), device.state == .enrolled else { throw Refusal(.forbidden, "\(deviceID) is not enrolled") }
            let previous = device.officer
            device.officer = nil
            try tx.saveDevice(device)
            let statement = ServiceStatement(kind: .checkin, service: identity.fingerprint, deviceID: deviceID, utc: utc,
                                             custodySeq: try custody.nextSeq(tx), officer: previous).signed(identity.sign)
            try custody.append(tx, utc: utc, actor: deviceID, action: .checkin, deviceID: deviceID, officer: previous,
                               detail: previous.map { "docked: checked in from officer \($0)" } ?? "docked (no assignment)")
            return statement
        }
    }
}
