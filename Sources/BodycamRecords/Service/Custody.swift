import BodycamEvidence

/// Appends chain-of-custody entries: each holds the SHA-256 of the line before it and is signed by the
/// service key. Always called inside the catalogue transaction that makes the change it records, so the
/// log and the catalogue can never disagree (both commit, or neither).
public struct Custody: Sendable {
    public let identity: ServiceIdentity

    public init(identity: ServiceIdentity) { self.identity = identity }

    /// The sequence number the next entry will get in this transaction.
    public func nextSeq(_ tx: any CatalogueTransaction) throws -> Int {
        (try tx.lastCustody()?.seq ?? 0) + 1
    }

    @discardableResult
    public func append(_ tx: any CatalogueTransaction, utc: Int64, actor: String, action: CustodyEntry.Action, deviceID: String? = nil,
                       recordingID: String? = nil, officer: String? = nil, detail: String) throws -> CustodyEntry {
        let last = try tx.lastCustody()
        let entry = CustodyEntry(seq: (last?.seq ?? 0) + 1, prev: last.map { CustodyLog.digest($0.line) } ?? AuditTrail.genesis,
                                 utc: utc, actor: CustodyEntry.isValidActor(actor) ? actor : "unknown", action: action,
                                 deviceID: deviceID.flatMap { FrameStamp.isValidDeviceID($0) ? $0 : nil },
                                 recordingID: recordingID.flatMap { EvidenceNames.RecordingID.parse($0) != nil ? $0 : nil },
                                 officer: officer.flatMap { EvidenceNames.isValidOfficerID($0) ? $0 : nil }, detail: detail)
        try tx.appendCustody(seq: entry.seq, line: entry.line(identity.sign))
        return entry
    }

    /// Every line, checked: the chain, each signature, the form. Throws naming the first bad entry.
    public static func check(_ catalogue: any Catalogue, key: PublicKey) throws -> [CustodyEntry] {
        let lines = try catalogue.readNow { try $0.custodyLines(from: 1) }
        return try CustodyLog.check(lines: lines, key: key)
    }
}
