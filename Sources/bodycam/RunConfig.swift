import BodycamCLI

extension Run {
    /// The keys of `bodycam run --config FILE`: every long option of `run` (the device behaviour group's too),
    /// with the TOML type its value takes. `ConfigTests.everyRunOptionIsAConfigKey` fails when an option is
    /// missing here.
    static let configKeys: [String: ConfigFile.Kind] = [
        "size": .text, "fps": .integer, "duration": .text, "quality": .integer, "format": .text, "encoders": .integer,
        "prerecord": .text, "prerecord-bytes": .integer, "segment-duration": .text, "segment-bytes": .integer,
        "storage": .path(), "sync-interval": .text, "overlay": .text, "overlay-time": .text, "seed": .integer,
        "device-id": .text, "utc-start": .text, "noise": .integer, "clock": .text,
        // Device behaviour (DeviceOptions)
        "double-press": .text, "hold": .text, "sleep-window": .text, "boot-time": .text, "record-reminder": .text,
        "sleep-reminder": .text, "max-recording": .text, "battery-capacity": .integer, "battery-alerts": .text,
        "battery-cutoff": .integer, "battery-min-boot": .integer,
        // Frames from a camera or a file
        "camera": .path(keeping: ["auto", "none"]), "camera-format": .text, "source": .path(), "source-format": .text,
        // Control, battery, storage, the dock
        "script": .path(), "strict": .flag, "battery": .integer, "storage-capacity": .integer, "stats-every": .text,
        "records": .path(), "enrol-token": .text, "records-ca": .path(), "offload-rate": .integer,
        "dock-clock-offset": .text,
        // What a person sees: JSON on a terminal, the live view
        "json": .flag, "http": .text,
    ]
}
