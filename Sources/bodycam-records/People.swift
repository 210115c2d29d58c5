import ArgumentParser
import BodycamEvidence
import BodycamRecords

struct OfficerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "officer",
        abstract: "Manage officers (who may check cameras out: known, active and trained).",
        subcommands: [Add.self, Train.self, Deactivate.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an officer.")
        @Argument(help: "The officer's id (badge number).") var id: String
        @Option(help: "The officer's name.") var name: String
        @Flag(help: "The officer is trained on body-worn video.") var trained = false
        @OptionGroup var data: DataOption

        func run() throws {
            let service = data.open()
            administer { try service.addOfficer(id: id, name: name, trained: trained) }
            emit("added officer \(id)")
        }
    }

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that an officer completed body-worn video training.")
        @Argument(help: "The officer's id.") var id: String
        @OptionGroup var data: DataOption

        func run() throws {
            let service = data.open()
            administer { try service.trainOfficer(id: id) }
            emit("officer \(id) trained")
        }
    }

    struct Deactivate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate an officer: no camera is checked out to them any more.")
        @Argument(help: "The officer's id.") var id: String
        @OptionGroup var data: DataOption

        func run() throws {
            let service = data.open()
            administer { try service.deactivateOfficer(id: id) }
            emit("deactivated officer \(id)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List officers.")
        @OptionGroup var data: DataOption
        @Flag(help: "One JSON object a line.") var json = false

        func run() throws {
            let service = data.open()
            for o in administer({ try service.catalogue.readNow { try $0.officers() } }) {
                if json {
                    emit(JSON.object([("officer_id", .string(o.officerID)), ("name", .string(o.name)), ("trained", .bool(o.trained)),
                                      ("active", .bool(o.active))]).serialized)
                } else {
                    emit("\(o.officerID)  \(o.name)  \(o.trained ? "trained" : "not trained")  \(o.active ? "active" : "inactive")")
                }
            }
        }
    }
}

extension UserRecord.Role: ExpressibleByArgument {}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage users of the people API.",
        subcommands: [Add.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user; prints their bearer token once (only its hash is kept).",
            discussion: "Roles: officer (sees only recordings made while assigned to them; needs --officer), supervisor (sees all), admin.")
        @Argument(help: "The user's name.") var name: String
        @Option(help: "officer, supervisor or admin.") var role: UserRecord.Role
        @Option(help: "For the officer role: the officer's id.") var officer: String?
        @OptionGroup var data: DataOption

        func run() throws {
            let service = data.open()
            emit(administer { try service.addUser(name: name, role: role, officer: officer) })
        }
    }
}

struct CustodyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "custody",
        abstract: "Print the chain-of-custody log and check it: hash chain and every entry's signature.",
        discussion: "Exit status: 0 intact; 1 an entry is broken (named on stderr; the entries before it are printed).")

    @OptionGroup var data: DataOption
    @Flag(help: "The log's own lines (JSON, signed).") var json = false

    func run() throws {
        let service = data.open()
        let lines = administer { try service.catalogue.readNow { try $0.custodyLines(from: 1) } }
        // The entries that check are printed; the first that does not is named and the exit status is 1.
        let (entries, failure) = CustodyLog.checkPrefix(lines: lines, key: service.identity.publicKey)
        for (i, e) in entries.enumerated() {
            if json {
                emit(String(decoding: lines[i], as: UTF8.self))
            } else {
                let subject = [e.deviceID, e.recordingID, e.officer.map { "officer " + $0 }].compactMap { $0 }.joined(separator: " ")
                emit("\(e.seq)  \(UTC.iso(e.utc))  \(e.actor)  \(e.action.rawValue)  \(subject.isEmpty ? "-" : subject)  \(e.detail)")
            }
        }
        if let failure { fail("custody log BROKEN: \(failure.message)") }
    }
}
