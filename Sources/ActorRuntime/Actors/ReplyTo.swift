import Synchronization

/// Where an ``ActorRef/ask(timeout:_:)`` waits for its answer. The first ``send(_:)`` wins; later ones
/// (and one arriving after the timeout or the asker's cancellation) are ignored.
public final class ReplyTo<Reply: Sendable>: Sendable {
    private typealias Waiter = UnsafeContinuation<Result<Reply, any Error>, Never>

    private enum State {
        case waiting(Waiter?)
        case done(Result<Reply, any Error>)
    }

    private let state = Mutex<State>(.waiting(nil))

    init() {}

    /// Delivers the answer.
    public func send(_ reply: Reply) { complete(.success(reply)) }

    func fail(_ error: any Error) { complete(.failure(error)) }

    private func complete(_ result: Result<Reply, any Error>) {
        var waiter: Waiter?
        state.withLock { s in
            guard case .waiting(let c) = s else { return }
            s = .done(result)
            waiter = c
        }
        waiter?.resume(returning: result)
    }

    func value() async throws -> Reply {
        let result = await withUnsafeContinuation { (c: Waiter) in
            let ready = state.withLock { s -> Result<Reply, any Error>? in
                switch s {
                case .done(let r): return r
                case .waiting: s = .waiting(c); return nil
                }
            }
            if let ready { c.resume(returning: ready) }
        }
        return try result.get()
    }
}
