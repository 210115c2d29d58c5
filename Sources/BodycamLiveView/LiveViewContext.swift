import Hummingbird
import NIOCore

/// The request context of the live view: Hummingbird's basics plus the connection's channel, so a
/// viewer's answer can be bounded in time (closing the channel fails a write stuck on a full socket).
struct LiveViewContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

extension Channel {
    /// Runs `write`, closing the connection if it has not completed within `seconds` (a viewer that
    /// stopped reading): the write then fails and the answer ends.
    func bounded<T>(seconds: Int64, _ write: () async throws -> T) async throws -> T {
        let close = eventLoop.scheduleTask(in: .seconds(seconds)) { [self] in self.close(promise: nil) }
        defer { close.cancel() }
        return try await write()
    }
}
