import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif


/// One line of the machine-readable event stream on stdout.
public struct Event: Sendable {
    public var type: String
    /// Camera monotonic time of the event.
    public var mono: Nanos
    public var utc: Int64
    public var fields: [(String, JSON)]

    public init(_ type: String, mono: Nanos, utc: Int64, _ fields: [(String, JSON)] = []) {
        self.type = type
        self.mono = mono
        self.utc = utc
        self.fields = fields
    }

    public subscript(_ key: String) -> JSON? { fields.first { $0.0 == key }?.1 }

    /// `{"event":"segment","t":12.033,"utc":"2026-01-01T08:00:12.033Z",...}`
    public var jsonLine: String {
        // Milliseconds, truncated like the UTC text, so both fields name the same instant.
        let t = Double(mono / Nanos.perMillisecond) / 1000
        return JSON.object([("event", .string(type)), ("t", .double(t)), ("utc", .string(UTC.iso(utc)))] + fields).serialized
    }
}

/// Where events go. The camera's threads may emit concurrently; sinks serialise.
public protocol EventSink: AnyObject, Sendable {
    func emit(_ event: Event)
}

/// Writes events as JSON Lines to a file descriptor (stdout), one `write` per line.
public final class JSONLinesSink: EventSink, @unchecked Sendable {
    private let fd: Int32
    private let lock = ConditionLock()
    public init(fd: Int32 = STDOUT_FILENO) { self.fd = fd }

    public func emit(_ event: Event) {
        var line = event.jsonLine
        line += "\n"
        lock.withLock {
            line.withUTF8 { buf in
                var done = 0
                while done < buf.count {
                    let n = write(fd, buf.baseAddress! + done, buf.count - done)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return } // stdout closed: events are lost, the camera keeps recording
                    done += n
                }
            }
        }
    }
}

/// Keeps events in memory (tests).
public final class CollectingSink: EventSink, @unchecked Sendable {
    private let lock = ConditionLock()
    private var stored: [Event] = []
    public init() {}
    public func emit(_ event: Event) { lock.withLock { stored.append(event) } }
    public var events: [Event] { lock.withLock { stored } }
    public func events(_ type: String) -> [Event] { events.filter { $0.type == type } }
}
