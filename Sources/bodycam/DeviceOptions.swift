import ArgumentParser
import BodycamCore
import BodycamEvidence

/// The device's behaviour, all with real cameras' defaults (see README, "The device").
struct DeviceOptions: ParsableArguments {
    @Option(help: "Second press of a double press within this (down to down).") var doublePress = DurationOption(argument: "500ms")!
    @Option(help: "A hold lasts this long.") var hold = DurationOption(argument: "3s")!
    @Option(help: "Power, then function within this: sleep.") var sleepWindow = DurationOption(argument: "3s")!
    @Option(help: "Boot time.") var bootTime = DurationOption(argument: "2s")!
    @Option(help: "Tones and vibrations this often while recording.") var recordReminder = DurationOption(argument: "2m")!
    @Option(help: "A reminder this often in sleep.") var sleepReminder = DurationOption(argument: "15m")!
    @Option(help: "A longer recording continues in a new one.") var maxRecording = DurationOption(argument: "4h")!
    @Option(help: "Battery capacity in mAh (draws: off 1, sleep 25, ready 235, recording 320 mA; charging 857 mA).")
    var batteryCapacity: Int64 = 3000
    @Option(help: "Low-battery alert levels, percent, comma-separated.") var batteryAlerts = "10,5"
    @Option(help: "At this level any recording is finalized and the camera powers off.") var batteryCutoff = 1
    @Option(help: "It will not boot below this level unless docked.") var batteryMinBoot = 3

    func config() throws -> DeviceConfig {
        var c = DeviceConfig()
        c.doublePressWindow = doublePress.nanos
        c.holdTime = hold.nanos
        c.sleepComboWindow = sleepWindow.nanos
        c.bootTime = bootTime.nanos
        c.recordingReminder = recordReminder.nanos
        c.sleepReminder = sleepReminder.nanos
        c.maxRecording = maxRecording.nanos
        c.battery.capacityMilliampHours = batteryCapacity
        let alerts = batteryAlerts.split(separator: ",").compactMap { Int($0.filter { $0 != " " }) }
        guard alerts.count == batteryAlerts.split(separator: ",").count, alerts.allSatisfy({ (1...100).contains($0) }) else {
            throw ValidationError("--battery-alerts '\(batteryAlerts)': percentages 1-100, comma-separated")
        }
        c.battery.lowAlerts = alerts
        c.battery.cutoffPercent = batteryCutoff
        c.battery.minBootPercent = batteryMinBoot
        let problems = c.problems()
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
        return c
    }
}
