/// The release of the bodycam tools: `bodycam --version` and `bodycam-records --version` both print it,
/// so a camera and the records service it docks into can be matched up. The one place it is defined.
public enum BodycamVersion {
    public static let string = "0.1.0"
}
