import BodycamEvidence

/// Which officer has the camera: the records service's signed `assignment` statement, kept as is in
/// `state/assignment` so the camera remembers it across restarts. Read back only if it verifies with
/// the service key pinned at enrolment and names this camera; anything else means "no officer".
public enum OfficerAssignment {
    public static let fileName = "assignment"

    public static func load(stateDirectory: String, deviceID: String, serviceKey: PublicKey?) -> String? {
        guard let key = serviceKey,
              let bytes = try? FileBytes.contents(stateDirectory + "/" + fileName, limit: ServiceStatement.maxBytes),
              let s = try? ServiceStatement.verify(bytes, key: key), s.kind == .assignment, s.deviceID == deviceID else { return nil }
        return s.officer
    }

    public static func save(_ statement: [UInt8], stateDirectory: String) throws(IOError) {
        try FileBytes.writeDurably(stateDirectory + "/" + fileName, statement, mode: 0o644)
    }

    /// Checked in: the assignment ends.
    public static func clear(stateDirectory: String) throws(IOError) {
        try PosixFile.removeDurably(stateDirectory + "/" + fileName)
    }
}
