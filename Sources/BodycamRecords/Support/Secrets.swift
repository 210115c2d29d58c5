import BodycamEvidence

/// Bearer and enrolment tokens: 32 random bytes in hex, handed out once and stored only as their SHA-256,
/// so a copy of the catalogue does not let anyone act as a user or enrol a camera.
public enum Secrets {
    public static func newToken() -> String {
        var rng = SystemRandomNumberGenerator() // getrandom(2) on Linux: cryptographically secure
        return Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    public static func hash(_ token: String) -> String { Hex.sha256(Array(token.utf8)) }
}
