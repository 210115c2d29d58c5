import BodycamEvidence
import Hummingbird

/// How answers are written: JSON bodies, and every refusal as `ErrorBody` with its status code.
enum Reply {
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        bytes(RecordsWire.encode(value), status: status, type: "application/json")
    }

    static func bytes(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func refusal(_ r: Refusal) -> Response {
        var response = json(RecordsWire.ErrorBody(error: r.message, lastSeq: r.lastSeq, retryAfter: r.retryAfter), status: status(r.kind))
        if let after = r.retryAfter { response.headers[.retryAfter] = String(after) }
        return response
    }

    /// Any error from a handler: refusals as they are, out of space as 507, anything else 500.
    static func error(_ error: any Error) -> Response {
        refusal(error as? Refusal ?? Refusal.storage(error, "internal error"))
    }

    static func status(_ kind: Refusal.Kind) -> HTTPResponse.Status {
        switch kind {
        case .badRequest: return .badRequest
        case .unauthenticated: return .unauthorized
        case .forbidden: return .forbidden
        case .notFound: return .notFound
        case .conflict: return .conflict
        case .tooLarge: return .contentTooLarge
        case .integrity: return .unprocessableContent
        case .full: return HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
        case .failure: return .internalServerError
        case .busy: return .serviceUnavailable
        }
    }
}

enum RequestBytes {
    /// The body, at most `limit` bytes: refused by its Content-Length before a byte is read, and cut off
    /// as soon as a body without one goes past the limit. Never more than `limit` bytes in memory.
    static func read(_ request: Request, limit: Int) async throws -> [UInt8] {
        if let text = request.headers[.contentLength] {
            guard let n = Int(text), n >= 0 else { throw Refusal(.badRequest, "Content-Length is not a number") }
            guard n <= limit else { throw Refusal(.tooLarge, "the body is \(n) bytes; at most \(limit) are taken here") }
        }
        var out: [UInt8] = []
        for try await buffer in request.body {
            guard out.count + buffer.readableBytes <= limit else { throw Refusal(.tooLarge, "the body is over the limit of \(limit) bytes") }
            out.append(contentsOf: buffer.readableBytesView)
        }
        return out
    }
}
