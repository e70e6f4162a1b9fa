import Domain
import Hummingbird

/// What the edge knows about a request beyond the request itself: its correlation id (accepted from
/// `x-correlation-id` or made up) and, under `/api`, the partner its API key belongs to.
struct EdgeContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var correlationID = ""
    var caller: PartnerRegistry.Caller?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}
