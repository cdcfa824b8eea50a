/// nemosim's version: the one place it is written. `nemosim --version`, the
/// simulator's health answer, recordings' creator, JUnit properties and the
/// client's User-Agent all read it.
public enum NemosimVersion {
    public static let current = "0.5.0"
}
