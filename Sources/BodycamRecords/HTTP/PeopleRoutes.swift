import BodycamEvidence
import Hummingbird

/// One recording in a `GET /v1/recordings` answer.
struct RecordingSummary: Encodable {
    var recording_id: String
    var device_id: String
    var officer: String?
    var trigger: String
    var start_utc: String
    var end_utc: String
    var markers: Int
    var frames: Int
    var bytes: Int
    var manifest_sha256: String
    var received_utc: String
    var category: String
    var case_reference: String?
    /// The hold's reason; null when not on hold.
    var hold: String?
    var kept_until: String

    init(_ r: RecordingRecord) {
        (recording_id, device_id, officer, trigger) = (r.recordingID, r.deviceID, r.officer, r.trigger)
        (start_utc, end_utc, markers, frames, bytes) = (UTC.iso(r.startUTC), UTC.iso(r.endUTC), r.markers, r.frames, r.bytes)
        (manifest_sha256, received_utc) = (r.manifestSHA256, UTC.iso(r.receivedUTC))
        (category, case_reference, hold) = (r.category.rawValue, r.caseReference, r.holdReason)
        kept_until = UTC.iso(r.category.expiresUTC(of: r))
    }
}

/// `POST /v1/recordings/ID/category` and `/hold` bodies.
struct CategoryRequest: Decodable {
    var category: String
    var `case`: String?
}

struct HoldRequest: Decodable {
    var reason: String
}

/// The people API (`Authorization: Bearer TOKEN`): officers see only recordings made while assigned to
/// them; supervisors and administrators see all. Every view and download is written to the custody log.
struct PeopleRoutes: Sendable {
    let service: RecordsService

    func register(on router: Router<BasicRequestContext>) {
        router.get("/v1/recordings") { request, _ in await self.list(request) }
        router.get("/v1/recordings/:id") { request, context in await self.manifest(request, id: context.parameters.get("id") ?? "") }
        router.get("/v1/recordings/:id/segments/:n") { request, context in
            await self.segment(request, id: context.parameters.get("id") ?? "", index: context.parameters.get("n") ?? "")
        }
        router.get("/v1/recordings/:id/thumbnail") { request, context in await self.thumbnail(request, id: context.parameters.get("id") ?? "") }
        router.post("/v1/recordings/:id/category") { request, context in
            await self.retention(request, id: context.parameters.get("id") ?? "", kind: "category")
        }
        router.post("/v1/recordings/:id/hold") { request, context in await self.retention(request, id: context.parameters.get("id") ?? "", kind: "hold") }
        router.post("/v1/recordings/:id/release") { request, context in
            await self.retention(request, id: context.parameters.get("id") ?? "", kind: "release")
        }
    }

    private func user(_ request: Request) async throws -> UserRecord { try await BearerAuth.user(request, service: service) }

    func list(_ request: Request) async -> Response {
        do {
            let user = try await user(request)
            let q = request.uri.queryParameters
            var filter = RecordingFilter()
            if let d = q["device"].map(String.init) {
                guard FrameStamp.isValidDeviceID(d) else { throw Refusal(.badRequest, "device= is not a device id") }
                filter.deviceID = d
            }
            if let o = q["officer"].map(String.init) {
                guard EvidenceNames.isValidOfficerID(o) else { throw Refusal(.badRequest, "officer= is not an officer id") }
                filter.officer = o
            }
            for (key, keyPath) in [("from", \RecordingFilter.from), ("to", \RecordingFilter.to)] {
                if let text = q[Substring(key)] {
                    guard let t = UTC.parse(String(text)) else { throw Refusal(.badRequest, "\(key)= is not a UTC time (2026-01-01T08:00:00Z)") }
                    filter[keyPath: keyPath] = t
                }
            }
            if let t = q["trigger"].map(String.init) {
                guard (1...64).contains(t.utf8.count) else { throw Refusal(.badRequest, "trigger= is 1-64 characters") }
                filter.trigger = t
            }
            if let m = q["marker"] { filter.withMarkers = m == "1" || m == "true" || m == "yes" }
            if user.role == .officer {
                // An officer's own recordings only; asking for another officer's is refused outright.
                if let asked = filter.officer, asked != user.officer { throw Refusal(.forbidden, "officers see only their own recordings") }
                filter.officer = user.officer ?? "-"
            }
            let f = filter
            let recordings = try await service.catalogue.read { try $0.recordings(f) }
            return Reply.json(recordings.map(RecordingSummary.init))
        } catch {
            return Reply.error(error)
        }
    }

    /// The recording if this user may see it; an officer asking for another's gets 404 (its existence is
    /// not disclosed).
    private func visibleRecording(_ user: UserRecord, id: String) async throws -> RecordingRecord {
        guard EvidenceNames.RecordingID.parse(id) != nil else { throw Refusal(.notFound, "not a recording id") }
        guard let r = try await service.catalogue.read({ try $0.recording(id) }), r.deletedUTC == nil,
              user.role != .officer || (r.officer != nil && r.officer == user.officer) else {
            throw Refusal(.notFound, "no recording \(id)")
        }
        return r
    }

    private func log(_ user: UserRecord, _ action: CustodyEntry.Action, _ r: RecordingRecord, _ detail: String) async throws {
        let utc = service.clock()
        let custody = service.custody
        _ = try await service.catalogue.write { tx in
            try custody.append(tx, utc: utc, actor: user.name, action: action, deviceID: r.deviceID, recordingID: r.recordingID,
                               officer: r.officer, detail: detail)
        }
    }

    func manifest(_ request: Request, id: String) async -> Response {
        do {
            let user = try await user(request)
            let r = try await visibleRecording(user, id: id)
            let blobs = service.blobs
            let bytes = try await Blocking.run { () throws -> [UInt8] in try blobs.readBlob(r.manifestSHA256, limit: RecordingManifest.maxFileBytes) }
            try await log(user, .view, r, "manifest viewed (\(user.role.rawValue))")
            return Reply.bytes(bytes, type: "application/json")
        } catch {
            return Reply.error(error)
        }
    }

    /// Streams one segment (AVI) in 1 MiB pieces: never the whole file in memory.
    func segment(_ request: Request, id: String, index: String) async -> Response {
        do {
            let user = try await user(request)
            let r = try await visibleRecording(user, id: id)
            guard let n = Int(index), n >= 1 else { throw Refusal(.notFound, "no segment \(index.prefix(12))") }
            let blobs = service.blobs
            let manifestBytes = try await Blocking.run { () throws -> [UInt8] in try blobs.readBlob(r.manifestSHA256, limit: RecordingManifest.maxFileBytes) }
            let manifest = try RecordingManifest.parse(manifestBytes)
            guard n <= manifest.segments.count else { throw Refusal(.notFound, "\(id) has \(manifest.segments.count) segment(s)") }
            let segment = manifest.segments[n - 1]
            guard blobs.hasBlob(segment.sha256) else { throw Refusal(.failure, "\(segment.file) is missing from the blob store") }
            try await log(user, .download, r, "segment \(n) (\(segment.file)) downloaded")
            var headers = HTTPFields()
            headers[.contentType] = "video/x-msvideo"
            headers[.contentDisposition] = "attachment; filename=\"\(segment.file)\""
            let size = segment.bytes
            let body = ResponseBody(contentLength: size) { writer in
                // Opened and read on blocking threads (a file or ranged GETs from S3), one piece at a time.
                let file = try await Blocking.run { () throws -> BlobHandle in BlobHandle(try blobs.openBlob(segment.sha256)) }
                defer { file.reader.close() }
                guard file.reader.size == size else { throw Refusal(.failure, "\(segment.file): \(file.reader.size) bytes held, its manifest says \(size)") }
                var offset = 0
                while offset < size {
                    let at = offset
                    let piece = try await Blocking.run { () throws -> [UInt8] in try file.reader.read(upTo: min(1 << 20, size - at), at: at) }
                    guard !piece.isEmpty else { throw Refusal(.failure, "\(segment.file): shorter than its manifest says") }
                    try await writer.write(ByteBuffer(bytes: piece))
                    offset += piece.count
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: headers, body: body)
        } catch {
            return Reply.error(error)
        }
    }

    /// The first frame of segment 1, as the JPEG the camera wrote; a `view` in the custody log.
    func thumbnail(_ request: Request, id: String) async -> Response {
        do {
            let user = try await user(request)
            let r = try await visibleRecording(user, id: id)
            let service = self.service
            let jpeg = try await Blocking.run { () throws -> [UInt8] in try service.thumbnail(r) }
            try await log(user, .view, r, "thumbnail viewed (\(user.role.rawValue))")
            return Reply.bytes(jpeg, type: "image/jpeg")
        } catch {
            return Reply.error(error)
        }
    }

    /// Category, hold and release: supervisors and administrators only (an officer cannot change how long
    /// their own footage is kept). Answers the recording's summary; the change is in the custody log.
    func retention(_ request: Request, id: String, kind: String) async -> Response {
        do {
            let user = try await user(request)
            guard user.role != .officer else { throw Refusal(.forbidden, "only supervisors and administrators change retention") }
            let body = try await RequestBytes.read(request, limit: 4096)
            let change: RetentionChange
            switch kind {
            case "category":
                guard let c = RecordsWire.decode(CategoryRequest.self, body) else {
                    throw Refusal(.badRequest, "not a category request ({\"category\":\"evidential\",\"case\":\"REF\"})")
                }
                guard let category = RetentionCategory(rawValue: c.category) else {
                    throw Refusal(.badRequest, "category is evidential or non-evidential")
                }
                change = .category(category, caseReference: c.case)
            case "hold":
                guard let h = RecordsWire.decode(HoldRequest.self, body) else { throw Refusal(.badRequest, "not a hold request ({\"reason\":\"…\"})") }
                change = .hold(reason: h.reason)
            default:
                change = .release
            }
            let r = try await service.changeRetention(recordingID: id, change, actor: user.name)
            return Reply.json(RecordingSummary(r))
        } catch {
            return Reply.error(error)
        }
    }
}

/// A reader handed between the blocking threads that read it one piece at a time: only one of them uses it
/// at once (each read is awaited before the next starts), which is what makes passing it along safe.
final class BlobHandle: @unchecked Sendable {
    let reader: any BlobReader
    init(_ reader: any BlobReader) { self.reader = reader }
}
