/// `data` of `GET /api/credits/balance/simple`.
public struct CreditBalance: Sendable, Hashable, Codable {
    public var available: Int
    public var frozen: Int
    /// available + frozen.
    public var total: Int

    public init(available: Int, frozen: Int, total: Int? = nil) {
        self.available = available
        self.frozen = frozen
        self.total = total ?? available + frozen
    }

    private enum CodingKeys: String, CodingKey { case available, frozen, total }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        available = container.lenientInt(.available) ?? 0
        frozen = container.lenientInt(.frozen) ?? 0
        total = container.lenientInt(.total) ?? available + frozen
    }
}
