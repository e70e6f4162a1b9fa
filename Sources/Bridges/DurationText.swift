import ActorRuntime

/// Durations as operators write them: `500ms`, `30s`, `15m`, `12h`, `14d`.
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard let n = Double(number), n >= 0, n.isFinite else { return nil }
            if suffix == "m", text.hasSuffix("ms") { continue }
            return .milliseconds(Int64((n * seconds * 1000).rounded()))
        }
        return nil
    }

    /// `3d 4h`, `12m`, `5s`: the two largest units, for ages in listings.
    public static func format(_ d: Duration) -> String {
        var s = Int(d.inSeconds)
        let days = s / 86400; s %= 86400
        let hours = s / 3600; s %= 3600
        let minutes = s / 60; s %= 60
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(s)s" }
        return "\(s)s"
    }
}
