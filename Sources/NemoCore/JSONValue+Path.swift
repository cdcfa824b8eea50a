extension JSONValue {
    /// The value at a dotted path (`data.files.0.hash`); `$` or "" is the root.
    public func value(atPath path: String) -> JSONValue? {
        var current: JSONValue? = self
        for part in path.split(separator: ".") where part != "$" {
            guard let value = current else { return nil }
            if let index = Int(part), case .array = value { current = value[index] } else { current = value[String(part)] }
        }
        return current
    }
}
