import BodycamCore

/// Events for a person: handed to the console's queue (formatted and drawn on its thread), so the
/// camera's threads never wait for the terminal.
public final class ConsoleEventSink: EventSink, @unchecked Sendable {
    private let console: TerminalConsole
    public init(console: TerminalConsole) { self.console = console }
    public func emit(_ event: Event) { console.post(event) }
}
