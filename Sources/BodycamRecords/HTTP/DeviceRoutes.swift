import BodycamEvidence
import Hummingbird

/// The device API (docs/RECORDS.md): enrolment, dock, assignment, and files by path. Every request is
/// signed by the device; nothing is stored before the device is known, not revoked, and its signature
/// verifies with the pinned key.
struct DeviceRoutes: Sendable {
    let service: RecordsService
    var auth: DeviceAuth { DeviceAuth(service: service) }

    static let filePath: RouterPath = "/v1/devices/:device/files/:folder/:file"

    func register(on router: Router<BasicRequestContext>) {
        router.post(RouterPath(RecordsWire.enrolPath)) { request, _ in await self.enrol(request) }
        router.post(RouterPath(RecordsWire.dockPath)) { request, _ in await self.dock(request) }
        router.post(RouterPath(RecordsWire.assignPath)) { request, _ in await self.assign(request) }
        router.get(Self.filePath) { request, _ in await self.file(request) }
        router.put(Self.filePath) { request, _ in await self.file(request) }
        router.post(Self.filePath) { request, _ in await self.file(request) }
    }

    func enrol(_ request: Request) async -> Response {
        do {
            // Not yet enrolled: there is no pinned key; the request must be signed by the key it presents.
            guard let header = request.headers[.authorization], let sig = RequestSignature.parse(header) else {
                throw await service.logged(Refusal(.unauthenticated, "missing or malformed 'Authorization: \(RequestSignature.scheme) …'"), deviceID: nil)
            }
            let body = try await RequestBytes.read(request, limit: RecordsWire.maxJSONBytes)
            let answer = try await service.enrol(signature: sig, method: request.method.rawValue, target: request.head.path ?? "", body: body)
            return Reply.json(answer)
        } catch {
            return Reply.error(error)
        }
    }

    /// Identify, read a bounded body, verify: the common start of every enrolled device's request.
    private func authenticated(_ request: Request, limit: Int) async throws -> (RequestSignature, DeviceRecord, [UInt8]) {
        let (sig, device) = try await auth.identify(request)
        let body = try await RequestBytes.read(request, limit: limit)
        try await auth.verify(sig, device: device, request: request, body: body)
        return (sig, device, body)
    }

    func dock(_ request: Request) async -> Response {
        do {
            let (sig, _, _) = try await authenticated(request, limit: 0)
            return Reply.json(RecordsWire.StatementResponse(statement: try await service.dock(deviceID: sig.device)))
        } catch {
            return Reply.error(error)
        }
    }

    func assign(_ request: Request) async -> Response {
        do {
            let (sig, _, body) = try await authenticated(request, limit: RecordsWire.maxJSONBytes)
            guard let assign = RecordsWire.decode(RecordsWire.AssignRequest.self, body) else {
                throw Refusal(.badRequest, "not an assignment request ({\"officer\":…})")
            }
            return Reply.json(RecordsWire.StatementResponse(statement: try await service.assign(deviceID: sig.device, officer: assign.officer)))
        } catch {
            return Reply.error(error)
        }
    }

    func file(_ request: Request) async -> Response {
        do {
            guard let path = RecordsWire.parseFilePath(Substring(request.uri.path)),
                  let name = UploadName(device: path.device, folder: path.folder, file: path.file) else {
                throw Refusal(.notFound, "not a file name records accept")
            }
            let (sig, device) = try await auth.identify(request)
            guard sig.device == name.device else {
                throw await service.logged(Refusal(.forbidden, "\(sig.device) may send only its own files, not \(name.device)'s"), deviceID: sig.device)
            }
            let isPut = request.method == .put
            let body = try await RequestBytes.read(request, limit: isPut ? RecordsWire.maxChunkBytes : 0)
            try await auth.verify(sig, device: device, request: request, body: body)
            let query = request.uri.queryParameters
            switch request.method {
            case .get:
                guard let sha = query["sha256"].map(String.init), Hex.isDigest(sha) else { throw Refusal(.badRequest, "?sha256= must be 64 lower-case hex digits") }
                return Reply.json(try await service.ingest.status(name, sha256: sha))
            case .put:
                guard let text = query["offset"], text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let offset = Int(text) else {
                    throw Refusal(.badRequest, "?offset= must be a number of bytes")
                }
                return Reply.json(try await service.ingest.put(name, offset: offset, bytes: body))
            default:
                guard let sha = query["sha256"].map(String.init) else { throw Refusal(.badRequest, "?sha256= is missing") }
                switch try await service.ingest.finish(name, sha256: sha, deviceKey: device.key) {
                case .file(let status): return Reply.json(status)
                case .receipt(let statement): return Reply.json(RecordsWire.StatementResponse(statement: statement))
                }
            }
        } catch {
            return Reply.error(error)
        }
    }
}
