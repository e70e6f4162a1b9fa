/// Keeps secrets out of output: masks the password of `scheme://user:password@host` URLs.
public enum Redact {
    public static func url(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url.range(of: "@", range: scheme.upperBound..<url.endIndex),
              let colon = url.range(of: ":", range: scheme.upperBound..<at.lowerBound) else { return url }
        return url.replacingCharacters(in: colon.upperBound..<at.lowerBound, with: "***")
    }
}
