import Domain
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// What the edge knows about a request beyond the request itself: its correlation id (accepted from
/// `x-correlation-id` or made up), the peer's address (the rate limits of anonymous routes) and, under
/// `/api`, the partner its API key belongs to.
struct EdgeContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var correlationID = ""
    var caller: PartnerRegistry.Caller? {
        didSet { facts.partner.withLock { $0 = caller?.partnerID } }
    }
    /// The client's IP address as the socket shows it (a proxy in front would need `X-Forwarded-For`
    /// trusted, which Troupe does not do).
    let clientIP: String
    /// Shared by the copies of this context that the middlewares pass on, so the first middleware learns
    /// what an inner one found out (the partner, for the request log).
    let facts = Facts()

    final class Facts: Sendable {
        let partner = Mutex<UUID?>(nil)
    }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientIP = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}
