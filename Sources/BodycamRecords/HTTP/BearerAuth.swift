import Hummingbird

/// People and administrators authenticate with `Authorization: Bearer TOKEN` (tokens from `user add`,
/// stored only as their SHA-256). 401 otherwise; not logged: no device or recording is involved.
enum BearerAuth {
    static func user(_ request: Request, service: RecordsService) async throws -> UserRecord {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "), header.utf8.count <= 200 else {
            throw Refusal(.unauthenticated, "missing 'Authorization: Bearer TOKEN'")
        }
        let hash = Secrets.hash(String(header.dropFirst(7)))
        guard let user = try await service.catalogue.read({ try $0.user(tokenSHA256: hash) }) else {
            throw Refusal(.unauthenticated, "unknown bearer token")
        }
        return user
    }
}
