import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How both command lines report a mistake: one line on stderr naming the command and its help,
///
///     bodycam run: --fps 0: frames per second, 1 to 240 (see 'bodycam run --help')
///
/// and exit status 64 (EX_USAGE) for a usage or validation error. ArgumentParser's own report (the
/// message, then the whole usage synopsis) buries the message on a terminal and gives a script several
/// lines to sort out. `--help`, `--version` and completion scripts are printed as ArgumentParser prints
/// them; an `ExitCode` thrown by a command (which has already said what went wrong) is passed through.
public enum CommandLineErrors {
    /// The config file the command line named (`ConfigFile.expanding`): a usage error about a value the file
    /// set says so (`(set in cam.toml line 3; see 'bodycam run --help')`).
    nonisolated(unsafe) public static var config: ConfigFile.Expansion?

    /// The command `Root` parsed from the process's arguments, or the process ends with one line.
    /// (`arguments`: these instead of the process's, without the program name.)
    public static func parse<Root: ParsableCommand>(_ root: Root.Type, arguments: [String]? = nil) -> ParsableCommand {
        do { return try root.parseAsRoot(arguments) } catch { report(error, root: root, command: nil) }
    }

    /// A usage mistake found before ArgumentParser parses (a config file): `command: message (see 'command
    /// --help')` on stderr, exit status 64.
    public static func usage(_ command: String, _ message: String) -> Never {
        var text = "\(command): \(message) (see '\(command) --help')\n"
        text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
        Glibc.exit(ExitCode.validationFailure.rawValue)
    }

    /// Reports `error`, thrown while parsing (`command` nil) or by `command`'s `run()`, and exits.
    public static func report<Root: ParsableCommand>(_ error: Error, root: Root.Type, command: ParsableCommand.Type?) -> Never {
        let code = root.exitCode(for: error)
        if code == .success || error is ExitCode { root.exit(withError: error) }
        // Which command: a parse error's report names the command its help belongs to; an error thrown
        // while running is the running command's.
        let full = root.fullMessage(for: error, columns: 100_000)
        var names = [root._commandName]
        if let command, let path = path(to: command, from: root) {
            names = path
        } else if let help = between(full, "See '", "' for more information"),
                  case let words = help.split(separator: " ").map(String.init), words.count > 1 {
            names = Array(words.dropLast())
        }
        let name = names.joined(separator: " ")
        var message = root.message(for: error).lowercasedFirst
        // ArgumentParser's "Help:  --fps <fps>  Frames per second (1-240)." line: the option's own help
        // states the units and range, which a rejected value needs.
        if let line = full.split(separator: "\n").first(where: { $0.hasPrefix("Help:") }),
           let abstract = line.range(of: "  ", range: line.index(line.startIndex, offsetBy: 7)..<line.endIndex)
               .map({ line[$0.upperBound...].trimmingSpaces }), !abstract.isEmpty {
            message = message.withoutFinalPeriod + ": " + abstract.withoutFinalPeriod.lowercasedFirst
        }
        let oneLine = message.split(whereSeparator: \.isNewline).map { $0.trimmingSpaces }.filter { !$0.isEmpty }
            .joined(separator: "; ")
        // A usage error points to the help; anything else (an error a command threw) is just said.
        var hint = code == .validationFailure ? " (see '\(name) --help')" : ""
        if code == .validationFailure, let config, let place = origin(of: oneLine, in: config) {
            hint = " (\(place); see '\(name) --help')"
        }
        var text = "\(name): \(oneLine)\(hint)\n"
        text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
        Glibc.exit(code.rawValue)
    }

    /// "set in FILE line N" when `message` is about a value the config file set (its option and value appear in it).
    static func origin(of message: String, in config: ConfigFile.Expansion) -> String? {
        guard let file = config.file else { return nil }
        let setting = config.settings.first { s in
            !s.value.isEmpty && message.contains("--\(s.key)")
                && (message.contains("--\(s.key) \(s.value)") || message.contains("'\(s.value.prefix(40))"))
        }
        return setting.map { "set in \(file)" + ($0.line.map { " line \($0)" } ?? "") }
    }

    /// The command names from `root` down to `target`, as typed.
    static func path(to target: ParsableCommand.Type, from root: ParsableCommand.Type) -> [String]? {
        if ObjectIdentifier(target) == ObjectIdentifier(root) { return [root._commandName] }
        for sub in root.configuration.subcommands {
            if let p = path(to: target, from: sub) { return [root._commandName] + p }
        }
        return nil
    }

    private static func between(_ s: String, _ open: String, _ close: String) -> String? {
        guard let a = s.range(of: open), let b = s.range(of: close, range: a.upperBound..<s.endIndex) else { return nil }
        return String(s[a.upperBound..<b.lowerBound])
    }
}

private extension StringProtocol {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
    var withoutFinalPeriod: String { hasSuffix(".") ? String(dropLast()) : String(self) }
    var lowercasedFirst: String {
        // "Frames per second" → "frames per second", but leave "JPEG quality" and "UTC at start" alone.
        guard let first, let second = dropFirst().first, first.isUppercase, !second.isUppercase else { return String(self) }
        return first.lowercased() + dropFirst()
    }
}
