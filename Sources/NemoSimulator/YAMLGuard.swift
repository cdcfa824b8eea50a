import Yams

/// Reads YAML from outside (scenarios, profiles) without letting aliases
/// multiply it: a "billion laughs" document (`&a [x, x]`, `&b [*a, *a]`,
/// ...) composes small (Yams shares an alias's node) but expands
/// exponentially when walked or decoded, and an alias used as a mapping key
/// makes composing itself exponential (Yams hashes the key's whole tree).
/// So: aliases are refused as mapping keys, and a document whose nodes,
/// counting each alias at every use, exceed a budget proportional to its
/// size is refused before anything is built from it.
public enum YAMLGuard {
    /// Why a document was refused, with the line (1-based, 0 when unknown).
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let line: Int
        public let message: String
        public var description: String { line > 0 ? "line \(line): \(message)" : message }
    }

    /// The most nodes a document may expand to: 100,000, or one per byte of
    /// a larger file. A document without aliases has fewer nodes than
    /// bytes, so only aliases can reach it.
    public static func budget(for text: String) -> Int { max(100_000, text.utf8.count) }

    /// The documents of `text`, composed, each checked (see the type).
    public static func documents(_ text: String, resolver: Resolver = .default) throws -> [Node] {
        if text.utf8.contains(UInt8(ascii: "*")) { try checkKeys(text) }
        let parser = try Parser(yaml: text, resolver: resolver)
        var budget = budget(for: text)
        var documents: [Node] = []
        while let node = try parser.nextRoot() {
            try checkExpansion(node, budget: &budget, limit: self.budget(for: text))
            documents.append(node)
        }
        return documents
    }

    /// One document decoded as `type` (merge keys resolved, as Yams's
    /// `YAMLDecoder` does), after the checks of ``documents(_:resolver:)``.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        let documents = try documents(text, resolver: Resolver.basic.appending(.merge))
        guard documents.count <= 1 else { throw Refusal(line: 0, message: "the text has \(documents.count) YAML documents: give one") }
        return try YAMLDecoder().decode(type, from: documents.first ?? "")
    }

    /// Refuses aliases (or collections) used as mapping keys, on a copy of
    /// the text in which no alias resolves (so composing it is linear).
    static func checkKeys(_ text: String) throws {
        let parser = try Parser(yaml: neutralizingAliases(text))
        while let root = try parser.nextRoot() {
            var stack = [root]
            while let node = stack.popLast() {
                switch node {
                case .scalar, .alias: break
                case .sequence(let sequence): stack.append(contentsOf: sequence)
                case .mapping(let mapping):
                    for pair in mapping {
                        guard case .scalar(let key) = pair.key, !key.string.hasPrefix(aliasMarker) else {
                            throw Refusal(
                                line: (pair.key.mark?.line ?? 0),
                                message: "an alias or a collection as a mapping key is not allowed (use a plain text key)")
                        }
                        stack.append(pair.value)
                    }
                }
            }
        }
    }

    /// Counts `root`'s nodes with each alias expanded, stopping (and
    /// refusing) as soon as the count passes `budget`: at most `budget`
    /// visits, whatever the document.
    static func checkExpansion(_ root: Node, budget: inout Int, limit: Int) throws {
        func refuse(_ node: Node) -> Refusal {
            Refusal(
                line: node.mark?.line ?? 0,
                message: "the document's aliases expand to more than \(limit) nodes (a YAML \"billion laughs\"?): write the values out, or use fewer aliases")
        }
        var stack: [Node] = [root]
        while let node = stack.popLast() {
            budget -= 1
            guard budget >= 0 else { throw refuse(node) }
            switch node {
            case .scalar, .alias: break
            case .sequence(let sequence):
                guard sequence.count <= budget else { throw refuse(node) }
                stack.append(contentsOf: sequence)
            case .mapping(let mapping):
                guard 2 * mapping.count <= budget else { throw refuse(node) }
                for pair in mapping {
                    stack.append(pair.key)
                    stack.append(pair.value)
                }
            }
        }
    }

    static let aliasMarker = "__nemosim_alias_"

    /// `text` with every anchor (`&name` at a token's start) blanked and
    /// every alias (`*name`) made the plain scalar `__nemosim_alias_name`.
    /// Lines are kept, so marks point at the right line. A `*` or `&` in a
    /// quoted scalar or a comment may be rewritten too: harmless, only the
    /// structure is looked at; an alias the scan misses stays an alias of
    /// an anchor that no longer exists, and Yams refuses the document.
    static func neutralizingAliases(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 64)
        func isNameByte(_ byte: UInt8) -> Bool {  // libyaml's anchor characters: [0-9A-Za-z_-]
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "_"), UInt8(ascii: "-"): true
            default: false
            }
        }
        let tokenStarts: [UInt8] = [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ",")]
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let atTokenStart = index == 0 || tokenStarts.contains(bytes[index - 1])
            if byte == UInt8(ascii: "&") || byte == UInt8(ascii: "*"), atTokenStart, index + 1 < bytes.count, isNameByte(bytes[index + 1]) {
                var end = index + 1
                while end < bytes.count, isNameByte(bytes[end]) { end += 1 }
                if byte == UInt8(ascii: "&") {
                    out.append(contentsOf: repeatElement(0x20, count: end - index))
                } else {
                    out.append(contentsOf: Array(aliasMarker.utf8))
                    out.append(contentsOf: bytes[(index + 1)..<end])
                }
                index = end
                continue
            }
            out.append(byte)
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
