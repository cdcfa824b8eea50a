import Foundation

/// A Markdown summary for CI step summaries (`$GITHUB_STEP_SUMMARY`).
public enum MarkdownSummary {
    public static func render(_ run: RunResult) -> String {
        var lines = [
            "## nemosim: \(run.passed) passed, \(run.failed) failed, \(run.skipped) skipped\(run.errors > 0 ? ", \(run.errors) errors" : "")",
            "",
            "Target `\(run.target)`" + (run.seed.map { ", seed \($0)" } ?? "") + (run.timeScale.map { ", time scale \(JUnitReport.seconds($0))" } ?? "")
                + ", \(JUnitReport.seconds(run.duration)) s.",
            "",
            "| scenario | file | result | time (s) |",
            "|---|---|---|---|",
        ]
        for file in run.files {
            for scenario in file.scenarios {
                let result: String
                switch scenario.outcome {
                case .passed: result = "passed"
                case .failed(let failure): result = "**failed** at \(failure.step): expected \(failure.expected), got \(failure.actual)"
                case .skipped(let reason): result = "skipped: \(reason)"
                case .error(let message): result = "**error**: \(message)"
                }
                let location = file.profile.map { "\($0): \(file.file)" } ?? file.file
                lines.append("| \(cell(scenario.name)) | \(cell(location)) | \(cell(result)) | \(JUnitReport.seconds(scenario.duration)) |")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
