extension Duration {
    /// The duration in seconds, as a `Double` (for rates and for APIs that take `TimeInterval`).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
