import ArgumentParser
import BodycamEvidence
import BodycamRecords

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Print the service's public key line (RECORDS ed25519 HEX), for cameras and checkers to trust.")

    @OptionGroup var data: DataOption

    func run() throws {
        emit(data.open().identity.keyLine)
    }
}

struct Enrol: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue a one-time enrolment token for a camera (printed once; only its hash is kept).",
        discussion: "The camera presents the token with its device.json at POST /v1/enrol; the service pins its key.")

    @Argument(help: "The camera's device id.") var deviceID: String
    @OptionGroup var data: DataOption
    @Option(help: "How long the token is valid: 7d, 12h, 30m.") var expires = "7d"

    func run() throws {
        let id = deviceArgument(deviceID)
        guard let lifetime = Lifetime.parse(expires) else { fail("--expires '\(expires.prefix(20))': a number and d, h, m or s (7d)") }
        let service = data.open()
        emit(administer { try service.issueEnrolmentToken(deviceID: id, lifetime: lifetime) })
    }
}

struct Revoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke a camera: its next request is refused; it can enrol again only with a new token.")

    @Argument(help: "The camera's device id.") var deviceID: String
    @OptionGroup var data: DataOption

    func run() throws {
        let id = deviceArgument(deviceID)
        let service = data.open()
        administer { try service.revoke(deviceID: id) }
        emit("revoked \(id)")
    }
}

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices", abstract: "List enrolled and revoked cameras.")

    @OptionGroup var data: DataOption
    @Flag(help: "One JSON object a line.") var json = false

    func run() throws {
        let service = data.open()
        let devices = administer { try service.catalogue.readNow { try $0.devices() } }
        for d in devices {
            if json {
                emit(JSON.object([
                    ("device_id", .string(d.deviceID)), ("state", .string(d.state.rawValue)), ("public_key", .string(d.key.hex)),
                    ("fingerprint", .string(d.key.fingerprint)), ("last_seq", .int(Int64(clamping: d.lastSeq))),
                    ("enrolled_utc", .string(UTC.iso(d.enrolledUTC))), ("revoked_utc", d.revokedUTC.map { .string(UTC.iso($0)) } ?? .null),
                    ("officer", d.officer.map { .string($0) } ?? .null),
                ]).serialized)
            } else {
                emit("\(d.deviceID)  \(d.state.rawValue)  \(d.key.fingerprint)  enrolled \(UTC.iso(d.enrolledUTC))"
                     + (d.officer.map { "  officer \($0)" } ?? ""))
            }
        }
    }
}
