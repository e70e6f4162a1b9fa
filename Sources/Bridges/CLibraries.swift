import CLibPQ
import CRabbitMQ

/// Versions of the C libraries Troupe links, read from the libraries themselves at run time, so a
/// missing or mismatched library shows up at start (and in `troupe --version`), not mid-flow.
public enum CLibraries {
    /// librabbitmq's version string, e.g. `0.11.0`.
    public static var rabbitMQ: String { String(cString: amqp_version()) }

    /// libpq's version as `major.minor`, e.g. `15.18` (from `PQlibVersion`).
    public static var libpq: String {
        let v = Int(PQlibVersion())
        return "\(v / 10000).\(v % 10000)"
    }

    /// libpq's numeric version, e.g. 150018.
    public static var libpqNumber: Int { Int(PQlibVersion()) }
}
