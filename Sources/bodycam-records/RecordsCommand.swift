import ArgumentParser
import BodycamCLI
import BodycamEvidence
import BodycamRecords
import Foundation
import RecordsPostgres
import RecordsS3
#if canImport(Glibc)
import Glibc
#endif

@main
struct RecordsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bodycam-records",
        abstract: "The force's central records for body-worn video: enrolment, ingest, catalogue, custody.",
        discussion: """
        `serve` takes recordings in from docked cameras over HTTP (see docs/RECORDS.md). The other commands \
        are the administrator's tools on the service host: they act on the data folder directly, like a \
        database's own tools, and write their changes to the custody log as actor 'admin' (the retention job \
        as 'retention').
        Events go to stdout as JSON Lines; diagnostics go to stderr.
        """,
        version: BodycamVersion.string,
        subcommands: [Serve.self, KeyCommand.self, Enrol.self, Revoke.self, DevicesCommand.self, OfficerCommand.self,
                      UserCommand.self, RecordingsCommand.self, CategoryCommand.self, HoldCommand.self, ReleaseCommand.self,
                      RetentionCommand.self, ExportCommand.self, VerifyStoreCommand.self, CustodyCommand.self, BenchPut.self]
    )

    /// ArgumentParser's `main()`, with every usage error on one line (`CommandLineErrors`).
    static func main() async {
        // `serve --config FILE`: the file's options go before the command line's own (which override them).
        do {
            CommandLineErrors.config = try ConfigFile.expanding(Array(CommandLine.arguments.dropFirst()), subcommand: "serve", isDefault: false,
                                                                subcommands: configuration.subcommands.map { $0._commandName }, keys: Serve.configKeys)
        } catch { CommandLineErrors.usage("bodycam-records serve", error.description) }
        var command = CommandLineErrors.parse(Self.self, arguments: CommandLineErrors.config?.arguments)
        do {
            if var asyncCommand = command as? AsyncParsableCommand { try await asyncCommand.run() } else { try command.run() }
        } catch {
            CommandLineErrors.report(error, root: Self.self, command: type(of: command))
        }
    }
}

/// `--data DIR`, and where the catalogue and the evidence bytes live: shared by every command.
struct DataOption: ParsableArguments {
    @Option(name: .customLong("data"), help: "The records data folder (service.key; with the default stores also catalogue.sqlite, blobs/; uploads/ in progress).")
    var directory: String
    @Option(name: .customLong("catalog"), help: ArgumentHelp(
        "Where the catalogue and custody log live: sqlite:PATH (default: DATA/catalogue.sqlite) or postgres://USER@HOST[:PORT]/DB; the password from BODYCAM_CATALOG_PASSWORD or the file BODYCAM_CATALOG_PASSWORD_FILE names, never here.",
        valueName: "location"))
    var catalog: String?
    @Option(name: .customLong("blobs"), help: ArgumentHelp(
        "Where evidence bytes live: a folder (default: DATA) or s3://BUCKET?endpoint=http://HOST:PORT; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the shared credentials file, never here.",
        valueName: "location"))
    var blobs: String?

    /// Opens the data folder (creating it and the service key on first use) and the stores.
    func open() -> RecordsService {
        let environment = ProcessInfo.processInfo.environment
        let (directory, catalog, blobs) = (self.directory, self.catalog, self.blobs)
        do {
            return try RecordsService.open(
                dataDirectory: directory,
                catalogue: catalog.map { location in { () throws -> any Catalogue in
                    if location.hasPrefix("sqlite:") { return try SQLiteCatalogue(path: String(location.dropFirst("sqlite:".count))) }
                    if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
                        return try PostgresStore.openCatalogue(url: location, environment: environment)
                    }
                    throw StoreLocationError("--catalog '\(location.prefix(60))': sqlite:PATH or postgres://USER@HOST[:PORT]/DB")
                } },
                blobs: blobs.map { location in { () throws -> any BlobStore in
                    if location.hasPrefix("s3://") { return try S3Store.openBlobStore(url: location, stagingRoot: directory, environment: environment) }
                    if location.contains("://") { throw StoreLocationError("--blobs '\(location.prefix(60))': a folder or s3://BUCKET?endpoint=URL") }
                    return try FolderBlobStore(root: location)
                } })
        } catch {
            fail("\(directory): \(error)")
        }
    }
}

/// Writes one diagnostic line to stderr (never stdout: that is for events and output scripts read).
func diagnostic(_ message: String) {
    var line = "bodycam-records: " + message + "\n"
    line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// One line to stdout, written at once (a test or supervisor may be waiting for it on a pipe).
func emit(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    diagnostic(message)
    RecordsCommand.exit(withError: ExitCode(1))
}

/// Runs an administrative change, turning its refusal into one clear line and exit status 1.
func administer<T>(_ body: () throws -> T) -> T {
    do { return try body() } catch { fail("\(error)") }
}

/// Validates a device id argument.
func deviceArgument(_ id: String) -> String {
    guard FrameStamp.isValidDeviceID(id) else { fail("'\(id.prefix(40))' is not a device id (1-32 of A-Z a-z 0-9 - _)") }
    return id
}
