import BodycamEvidence
/// Turns button edges into gestures. Pure and clock-free: times come with the edges, and the hold timer
/// is exposed as a deadline the runtime calls `tick` at.
///
/// - press: down then up before the hold time.
/// - double: a down edge within `doubleWindow` of the previous press's down edge (reported at that
///   second down edge; its up edge then reports nothing).
/// - hold: down for `holdTime` (reported at that moment, while still held; its up reports nothing).
public struct GestureRecognizer: Sendable {
    public var doubleWindow: Nanos
    public var holdTime: Nanos

    private struct ButtonState: Sendable {
        var downAt: Nanos?
        var lastPressDownAt: Nanos?
        var consumed = false  // this down already produced a double or a hold
    }
    private var buttons: [ButtonState] = Array(repeating: ButtonState(), count: Button.allCases.count)

    public init(doubleWindow: Nanos, holdTime: Nanos) {
        self.doubleWindow = doubleWindow
        self.holdTime = holdTime
    }

    private static func slot(_ b: Button) -> Int { Button.allCases.firstIndex(of: b)! }

    public func isDown(_ b: Button) -> Bool { buttons[Self.slot(b)].downAt != nil }

    public mutating func down(_ b: Button, at t: Nanos) -> Gesture? {
        let i = Self.slot(b)
        guard buttons[i].downAt == nil else { return nil } // already down: a repeated edge
        buttons[i].downAt = t
        buttons[i].consumed = false
        if let previous = buttons[i].lastPressDownAt, t - previous <= doubleWindow {
            buttons[i].lastPressDownAt = nil
            buttons[i].consumed = true
            return .double(b)
        }
        return nil
    }

    public mutating func up(_ b: Button, at t: Nanos) -> Gesture? {
        let i = Self.slot(b)
        guard let downAt = buttons[i].downAt else { return nil } // up without down
        buttons[i].downAt = nil
        if buttons[i].consumed { return nil }
        if t - downAt >= holdTime { return .hold(b) } // the tick for it did not come first
        buttons[i].lastPressDownAt = downAt
        return .press(b)
    }

    /// Holds that are due at `t`.
    public mutating func tick(at t: Nanos) -> [Gesture] {
        var due: [Gesture] = []
        for b in Button.allCases {
            let i = Self.slot(b)
            if let d = buttons[i].downAt, !buttons[i].consumed, t - d >= holdTime {
                buttons[i].consumed = true
                buttons[i].lastPressDownAt = nil
                due.append(.hold(b))
            }
        }
        return due
    }

    /// The next time a hold becomes due.
    public var nextDeadline: Nanos? {
        buttons.compactMap { $0.consumed ? nil : $0.downAt.map { $0 + holdTime } }.min()
    }

    /// Forgets everything (power off).
    public mutating func reset() {
        buttons = Array(repeating: ButtonState(), count: Button.allCases.count)
    }
}
