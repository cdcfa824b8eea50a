import Foundation
import PackagePlugin

/// Puts the files nemosim needs at run time (the MP4 served for renders, the
/// shipped profiles, the built-in scenarios and their media, the JUnit
/// schema) inside the binary: one generated Swift file, remade whenever one
/// of them changes, so a copied binary needs no folder beside it.
@main
struct EmbedResources: BuildToolPlugin {
    /// Folders of the package embedded, and the name each file has inside
    /// (its path relative to the package).
    static let folders = [
        "Sources/NemoSimulator/Resources", "Sources/NemoSimulator/Profiles",
        "Fixtures/scenarios", "Fixtures/media", "Fixtures/schemas",
    ]

    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let root = context.package.directoryURL
        var inputs: [URL] = []
        for folder in Self.folders {
            let directory = root.appending(path: folder)
            // Files only: a folder's subfolders are not embedded.
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { name in
                var isDirectory: ObjCBool = false
                return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: directory.appending(path: name).path, isDirectory: &isDirectory)
                    && !isDirectory.boolValue
            }.sorted()
            inputs += names.map { directory.appending(path: $0) }
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedResources.swift")
        let arguments = [output.path] + inputs.map { input in
            let name = String(input.path.dropFirst(root.path.count).drop { $0 == "/" })
            return "\(name)=\(input.path)"
        }
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) resource files", executable: try context.tool(named: "embed-resources").url,
                arguments: arguments, inputFiles: inputs, outputFiles: [output])
        ]
    }
}
