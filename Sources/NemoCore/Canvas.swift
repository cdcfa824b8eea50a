/// A video's frame size and its aspect ratio.
public struct Canvas: Sendable, Hashable, Codable {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    public static let landscape = Canvas(width: 1920, height: 1080)
    public static let portrait = Canvas(width: 1080, height: 1920)
    public static let square = Canvas(width: 1080, height: 1080)
    public static let fourByFive = Canvas(width: 1080, height: 1350)

    /// `16:9`, `9:16`, `1:1`, `4:5`, ... from the real sizes (reduced).
    public var aspectRatio: String {
        guard width > 0, height > 0 else { return "16:9" }
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let divisor = gcd(width, height)
        return "\(width / divisor):\(height / divisor)"
    }
}
