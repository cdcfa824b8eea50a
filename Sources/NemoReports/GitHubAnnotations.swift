/// GitHub Actions workflow commands for a run's failures:
/// `::error file=F,line=L,title=T::MESSAGE`, one per failed scenario or
/// scenario that could not run, which GitHub shows on the scenario's line
/// of the changed file. Values escaped as the runner expects (`%`, CR and LF
/// everywhere; `:` and `,` in properties too).
public enum GitHubAnnotations {
    public static func lines(for run: RunResult) -> [String] {
        var lines: [String] = []
        for file in run.files {
            for scenario in file.scenarios {
                let message: String
                switch scenario.outcome {
                case .failed(let failure):
                    message = "\(failure.step)\nexpected: \(failure.expected)\nactual: \(failure.actual)" + (failure.message.isEmpty ? "" : "\n\(failure.message)")
                case .error(let text): message = text
                case .passed, .skipped: continue
                }
                var properties = ["file=" + property(file.file)]
                if let line = scenario.line { properties.append("line=\(line)") }
                let title = (file.profile.map { "[\($0)] " } ?? "") + scenario.name
                properties.append("title=" + property(title))
                lines.append("::error " + properties.joined(separator: ",") + "::" + data(message))
            }
        }
        return lines
    }

    /// A command's message (after `::`).
    static func data(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
    }

    /// A property's value (`file=`, `title=`).
    static func property(_ text: String) -> String {
        data(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}
