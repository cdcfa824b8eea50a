import ArgumentParser
import Foundation
import NemoRecording

/// `--replay-timing`: how a replay paces event streams.
enum ReplayTimingOption: String, ExpressibleByArgument, CaseIterable {
    /// At the recorded offsets (divided by a time scale).
    case recorded
    /// Everything at once.
    case instant

    func timing(timeScale: Double) -> ReplayTiming {
        self == .instant ? .instant : .recorded(timeScale: timeScale)
    }
}

/// An error as one readable phrase (Foundation's file errors as the system's words).
func describe(_ error: any Error) -> String {
    guard error is CocoaError else { return "\(error)" }
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    return nsError.localizedDescription
}

/// Says `command: what went wrong` on stderr and exits with `code`
/// (1: the work failed, 2: what was asked cannot be done as given).
func fail(_ command: String, _ message: String, code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("\(command): \(message)\n".utf8))
    return ExitCode(code)
}

/// Runs `body`; an error becomes `command: <error>` on stderr and exit `code`.
func orExit<T>(_ command: String, code: Int32, _ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw fail(command, describe(error), code: code) }
}

/// Runs `body`; an error becomes `command: <error>` on stderr and exit `code`.
func orExit<T>(_ command: String, code: Int32, _ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw fail(command, describe(error), code: code) }
}

/// Loads a recording for a command, or says on stderr why it cannot and exits 2.
func loadRecording(_ path: String, for command: String, hint: String? = nil) throws -> Recording {
    do {
        return try Recording.load(URL(fileURLWithPath: path))
    } catch {
        // The recording's own errors name the file; the system's do not.
        let reason = error is CocoaError ? "cannot read \(path): \(describe(error))" : describe(error)
        throw fail(command, reason + (hint.map { " (\($0))" } ?? ""), code: 2)
    }
}

/// A file's path as reports name it: relative to the working folder
/// (`../other/a.yaml` when outside it), never absolute.
func displayPath(_ path: String, from directory: String = FileManager.default.currentDirectoryPath) -> String {
    let target = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
    let base = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL.pathComponents
    var shared = 0
    while shared < min(target.count, base.count) && target[shared] == base[shared] { shared += 1 }
    let relative = Array(repeating: "..", count: base.count - shared) + target[shared...]
    return relative.isEmpty ? path : relative.joined(separator: "/")
}

/// A base URL given on the command line (or in the environment), checked
/// before anything is sent: a usage error (exit 2) when it is not http(s)
/// with a host.
func validateBaseURL(_ value: String, _ option: String) throws {
    guard let url = URL(string: value), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false else {
        throw ValidationError("\(option) must be an http(s) URL such as http://127.0.0.1:8080, got \(value)")
    }
}

/// Writes a command's output file whole (moved into place), or fails with
/// exit 2 saying why.
func writeOutput(_ text: String, to path: String, for command: String) throws {
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw fail(command, "cannot write \(path): \(error.localizedDescription)", code: 2)
    }
}
