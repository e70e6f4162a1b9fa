extension Duration {
    /// The duration in seconds, as a `Double` (for rates and for APIs that take `TimeInterval`). `package`: Troupe's
    /// modules share it; it is not the runtime's API.
    package var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
