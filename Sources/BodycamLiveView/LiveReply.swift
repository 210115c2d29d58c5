import BodycamEvidence
import Hummingbird

/// How the live view answers: JSON bodies, every refusal `{"error": "a sentence"}` with its status.
enum LiveReply {
    static func json(_ value: JSON, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        bytes(Array((value.serialized + "\n").utf8), status: status, type: "application/json", headers: extra)
    }

    static func error(_ message: String, status: HTTPResponse.Status, headers extra: HTTPFields = [:]) -> Response {
        json(.object([("error", .string(message))]), status: status, headers: extra)
    }

    /// 503 with Retry-After: the limit of viewers or subscribers is reached, or the queue is full.
    static func busy(_ message: String, retryAfterSeconds: Int) -> Response {
        var h = HTTPFields()
        h[.retryAfter] = String(retryAfterSeconds)
        return error(message, status: .serviceUnavailable, headers: h)
    }

    static func bytes(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, type: String, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = type
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
