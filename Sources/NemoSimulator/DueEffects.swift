/// An effect of an agent operation that falls due at a simulated time.
struct DueEffect: Sendable, Comparable {
    /// Simulated seconds since the clock's origin.
    var time: Double
    var sessionID: String
    var messageIndex: Int

    static func < (a: DueEffect, b: DueEffect) -> Bool {
        (a.time, a.sessionID, a.messageIndex) < (b.time, b.sessionID, b.messageIndex)
    }
}

/// A binary min-heap: ``Simulation/settle()`` pops only what is due, so it
/// costs nothing when nothing is, however many operations are open.
struct MinHeap<Element: Comparable & Sendable>: Sendable {
    private var items: [Element] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }
    var min: Element? { items.first }

    mutating func insert(_ element: Element) {
        items.append(element)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMin() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let minimum = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count && items[left] < items[smallest] { smallest = left }
            if right < items.count && items[right] < items[smallest] { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return minimum
    }

    mutating func removeAll() { items.removeAll() }
}
