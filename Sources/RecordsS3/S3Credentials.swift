import BodycamEvidence

/// An access key pair (and a session token for temporary credentials).
public struct S3Credentials: Sendable, Equatable {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
        (self.accessKey, self.secretKey, self.sessionToken) = (accessKey, secretKey, sessionToken)
    }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String
    }

    /// As the AWS tools find them: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else the
    /// shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`), profile `AWS_PROFILE`
    /// or `default`. Half a key pair in the environment is an error, not a reason to look elsewhere.
    public static func load(environment env: [String: String]) throws(Missing) -> S3Credentials {
        let id = env["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = env["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        switch (id, secret) {
        case let (id?, secret?):
            return S3Credentials(accessKey: id, secretKey: secret, sessionToken: env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
        case (nil, nil):
            break
        default:
            throw Missing(description: "s3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")
        }
        let path: String
        if let p = env["AWS_SHARED_CREDENTIALS_FILE"], !p.isEmpty { path = p } else if let home = env["HOME"], !home.isEmpty {
            path = home + "/.aws/credentials"
        } else {
            throw Missing(description: "s3 credentials: none in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and no HOME for ~/.aws/credentials")
        }
        let profile = env["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let bytes: [UInt8]
        do { bytes = try FileBytes.contents(path, limit: 1 << 20) } catch {
            throw Missing(description: "s3 credentials: none in the environment, and \(path) cannot be read (\(error))")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Missing(description: "s3 credentials: \(path) is not UTF-8") }
        guard let c = parseINI(text, profile: profile) else {
            throw Missing(description: "s3 credentials: \(path) has no profile [\(profile)] with aws_access_key_id and aws_secret_access_key")
        }
        return c
    }

    /// The profile's keys from an AWS INI file (`[profile]` sections of `key = value` lines; `#`/`;` comments).
    static func parseINI(_ text: String, profile: String) -> S3Credentials? {
        var section: String?
        var values: [String: String] = [:]
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = raw.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast().trimmingSpaces)
                continue
            }
            guard section == profile, let eq = line.firstIndex(of: "=") else { continue }
            values[String(line[..<eq].trimmingSpaces).lowercased()] = String(line[line.index(after: eq)...].trimmingSpaces)
        }
        guard let id = values["aws_access_key_id"], !id.isEmpty, let secret = values["aws_secret_access_key"], !secret.isEmpty else { return nil }
        return S3Credentials(accessKey: id, secretKey: secret, sessionToken: values["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 })
    }
}
