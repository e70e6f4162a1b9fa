import Testing

/// Suites that use the six components' real queues (`troupe.payment`, ...) on the one test broker: running
/// nodes consume them, so these suites run one after another, never beside each other.
@Suite(.serialized) enum ComponentQueues {}
