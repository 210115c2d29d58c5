import BodycamEvidence
import Hummingbird

/// `POST /v1/officers` body.
struct OfficerRequest: Decodable {
    var officer: String
    var name: String
    var trained: Bool
}

/// `POST /v1/officers` and `/v1/devices/ID/enrol-token` answers.
struct OfficerAnswer: Encodable { var officer: String }
struct TokenAnswer: Encodable {
    var device_id: String
    var token: String
}

/// Provisioning over the network, for users with the admin role: the same operations as the `officer add`
/// and `enrol` commands (a station's enrolment desk, `bodycam fleet`), each change in the custody log with
/// the user's name as actor. Anything that exists already is 409, so a provisioning run can be repeated.
struct AdminRoutes: Sendable {
    let service: RecordsService
    /// An enrolment token issued here lives as long as one from `enrol`.
    static let tokenLifetime: Int64 = 7 * 24 * 3600 * 1_000_000_000

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/officers") { request, _ in await self.addOfficer(request) }
        router.post("/v1/devices/:device/enrol-token") { request, context in await self.enrolToken(request, id: context.parameters.get("device") ?? "") }
    }

    private func admin(_ request: Request) async throws -> UserRecord {
        let user = try await BearerAuth.user(request, service: service)
        guard user.role == .admin else { throw Refusal(.forbidden, "only administrators provision officers and devices") }
        return user
    }

    /// Runs an administrative change off the request pool; its refusals become 400, or 409 when the thing exists.
    private func administer<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do { return try await Blocking.run(body) } catch let e as AdminError {
            throw Refusal(e.exists ? .conflict : .badRequest, e.description)
        }
    }

    func addOfficer(_ request: Request) async -> Response {
        do {
            let user = try await admin(request)
            let body = try await RequestBytes.read(request, limit: 4096)
            guard let o = RecordsWire.decode(OfficerRequest.self, body) else {
                throw Refusal(.badRequest, "not an officer request ({\"officer\":\"ID\",\"name\":\"NAME\",\"trained\":true})")
            }
            let service = self.service
            try await administer { try service.addOfficer(id: o.officer, name: o.name, trained: o.trained, actor: user.name) }
            return Reply.json(OfficerAnswer(officer: o.officer))
        } catch {
            return Reply.error(error)
        }
    }

    func enrolToken(_ request: Request, id: String) async -> Response {
        do {
            let user = try await admin(request)
            let service = self.service
            let token = try await administer { try service.issueEnrolmentToken(deviceID: id, lifetime: Self.tokenLifetime, actor: user.name) }
            return Reply.json(TokenAnswer(device_id: id, token: token))
        } catch {
            return Reply.error(error)
        }
    }
}
