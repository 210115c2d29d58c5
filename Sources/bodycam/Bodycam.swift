import ArgumentParser
import BodycamCLI
import BodycamCore
import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

@main
struct Bodycam: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bodycam",
        abstract: "Firmware simulator for a police body-worn video camera.",
        discussion: """
        Events go to stdout as JSON Lines; diagnostics go to stderr.
        With no camera given, `run` uses deterministic synthetic frames on a virtual clock.
        """,
        version: BodycamVersion.string,
        subcommands: [Run.self, Inspect.self, Verify.self, Key.self, Recover.self, Devices.self, Fleet.self, BenchPath.self],
        defaultSubcommand: Run.self
    )

    /// ArgumentParser's `main()`, with every usage error on one line (`CommandLineErrors`).
    static func main() {
        // `run --config FILE`: the file's options go before the command line's own (which override them).
        do {
            CommandLineErrors.config = try ConfigFile.expanding(Array(CommandLine.arguments.dropFirst()), subcommand: "run", isDefault: true,
                                                                subcommands: configuration.subcommands.map { $0._commandName }, keys: Run.configKeys)
        } catch { CommandLineErrors.usage("bodycam run", error.description) }
        var command = CommandLineErrors.parse(Self.self, arguments: CommandLineErrors.config?.arguments)
        do { try command.run() } catch { CommandLineErrors.report(error, root: Self.self, command: type(of: command)) }
    }
}

/// Writes one diagnostic line to stderr (never stdout: that is the event stream).
func diagnostic(_ message: String) {
    var line = "bodycam: " + message + "\n"
    line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Parses "250ms", "30s", "5m", "1h" for ArgumentParser.
struct DurationOption: ExpressibleByArgument, CustomStringConvertible {
    let nanos: Nanos
    let description: String
    init?(argument: String) {
        guard let n = DurationText.parse(argument) else { return nil }
        nanos = n
        description = argument
    }
    var defaultValueDescription: String { description }
}

/// "1280x720".
struct SizeOption: ExpressibleByArgument {
    let width: Int, height: Int
    var defaultValueDescription: String { "\(width)x\(height)" }
    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else { return nil }
        width = w
        height = h
    }
}

extension PixelFormat: ExpressibleByArgument {}
extension OverlayTime: ExpressibleByArgument {}
