import BodycamEvidence

/// Where lines from outside the script (the live page's buttons) enter the camera: the running
/// `ScriptRunner`'s input queue, so they are carried out, timed and reported exactly like typed lines.
/// Any thread may submit; nothing here waits.
public final class RemoteControl: @unchecked Sendable { // `input` is guarded by `lock`
    private let lock = ConditionLock()
    private var input: ScriptInput?

    public init() {}

    public enum Outcome: Equatable, Sendable {
        case queued
        /// The input queue is full (the camera is busy with earlier lines): try again shortly.
        case full
        /// No runner is taking lines (starting up or shutting down).
        case notRunning
    }

    public func submit(_ line: String) -> Outcome {
        lock.withLock {
            guard let input else { return .notRunning }
            return input.inject(line) ? .queued : .full
        }
    }

    /// The runner's input while it runs; nil when it ends.
    func attach(_ input: ScriptInput?) { lock.withLock { self.input = input } }
}
