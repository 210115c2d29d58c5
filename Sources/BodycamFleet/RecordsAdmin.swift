import BodycamCore
import Foundation

/// The fleet's side of the records service's administrator and people APIs, with an admin bearer token:
/// provisioning (officers, enrolment tokens) and the catalogue the cross-check reads. One blocking
/// connection per value (use one per thread).
public final class RecordsAdmin {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A row of `GET /v1/recordings`.
    public struct Listed: Decodable, Sendable, Equatable {
        public var recording_id: String
        public var device_id: String
        public var officer: String?
        public var manifest_sha256: String
        public var bytes: Int
    }

    public let url: String
    private let client: HTTPClient
    private let token: String

    public init(url: String, token: String, caFile: String?) throws {
        guard let parsed = HTTPClient.parseURL(url) else { throw Failure(description: "\(url): not http://HOST:PORT or https://HOST:PORT") }
        let trust: TLSTrust?
        do { trust = parsed.tls ? try TLSTrust(caFile: caFile) : nil } catch { throw Failure(description: "\(url): \(error)") }
        (self.url, self.token) = (url, token)
        client = HTTPClient(host: parsed.host, port: parsed.port, tls: trust, timeoutSeconds: 30)
    }

    private func send(_ method: String, _ target: String, json: [String: Any]? = nil) throws -> HTTPClient.Response {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) }.map { Array($0) } ?? []
        var headers = [("Authorization", "Bearer \(token)")]
        if json != nil { headers.append(("Content-Type", "application/json")) }
        do {
            return try body.withUnsafeBytes { (b) throws(HTTPClient.Failure) in try client.send(method: method, target: target, headers: headers, body: b) }
        } catch {
            throw Failure(description: "\(url)\(target): \(error)")
        }
    }

    private func refusal(_ r: HTTPClient.Response, _ what: String) -> Failure {
        let message = (try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])?["error"] as? String
        return Failure(description: "\(url): \(what): HTTP \(r.status)\(message.map { ": " + $0 } ?? "")")
    }

    /// Adds a trained officer; one that exists already is fine (a repeated run).
    public func addOfficer(_ id: String, name: String) throws {
        let r = try send("POST", "/v1/officers", json: ["officer": id, "name": name, "trained": true])
        guard r.status == 200 || r.status == 409 else { throw refusal(r, "adding officer \(id)") }
    }

    /// A one-time enrolment token for the device.
    public func enrolmentToken(_ deviceID: String) throws -> String {
        let r = try send("POST", "/v1/devices/\(deviceID)/enrol-token")
        guard r.status == 200, let object = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any],
              let token = object["token"] as? String else { throw refusal(r, "enrolment token for \(deviceID)") }
        return token
    }

    /// The catalogue's live recordings of one device.
    public func recordings(device: String) throws -> [Listed] {
        let r = try send("GET", "/v1/recordings?device=\(device)")
        guard r.status == 200 else { throw refusal(r, "listing \(device)'s recordings") }
        guard let rows = try? JSONDecoder().decode([Listed].self, from: Data(r.body)) else {
            throw Failure(description: "\(url): the recordings list of \(device) is not what the API documents")
        }
        return rows
    }
}
