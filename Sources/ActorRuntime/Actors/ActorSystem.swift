import Logging
import Synchronization

/// One node's tree of actors: spawn top-level actors under the `/user` guardian, shut the tree down,
/// and learn how it ended.
///
/// Failures climb the tree: a supervisor whose restart intensity is exceeded fails in turn; when the
/// guardian itself gives up, the whole system stops with ``Termination/failed(_:)``, which a node turns
/// into a non-zero exit (Erlang/OTP's "the application's top supervisor died").
public final class ActorSystem: Sendable {
    /// How a system ended.
    public enum Termination: Sendable, Hashable, CustomStringConvertible {
        /// ``shutdown()`` was called.
        case shutdown
        /// The guardian's restart intensity was exceeded (or it crashed); the reason says why.
        case failed(String)

        public var description: String {
            switch self {
            case .shutdown: "shutdown"
            case .failed(let reason): "failed: \(reason)"
            }
        }
    }

    /// Settings of a system, with OTP-like defaults.
    public struct Configuration: Sendable {
        /// How the guardian supervises top-level actors. Default: one-for-one, 10 restarts in 10 s.
        public var guardianStrategy: SupervisorStrategy
        /// The logger actors log through (each adds `troupe.actor.path`).
        public var logger: Logger
        /// The workers actors run on; by default the process-wide one, a worker per core.
        public var dispatcher: Dispatcher

        public init(guardianStrategy: SupervisorStrategy = .oneForOne(maxRestarts: 10, within: .seconds(10)),
                    logger: Logger = Logger(label: "troupe"), dispatcher: Dispatcher = .shared) {
            self.guardianStrategy = guardianStrategy
            self.logger = logger
            self.dispatcher = dispatcher
        }
    }

    private struct TerminationState {
        var failure: String?
        var result: Termination?
        var waiters: [UnsafeContinuation<Termination, Never>] = []
        var topLevelNames: Set<String> = []
        var accepting = true
        var notStoppedInTime: [ActorPath] = []
    }

    public let name: String
    public let logger: Logger
    /// Lifecycle events (starts, failures, restarts, dead letters).
    public let events: EventStream
    /// Where undeliverable messages go.
    public let deadLetters: DeadLetterOffice
    @usableFromInline let guardian: Mailbox<Never>
    @usableFromInline let dispatcher: Dispatcher
    private let state = Mutex(TerminationState())

    /// The path top-level actors live under.
    public static let userPath = ActorPath(["user"])

    public init(name: String = "troupe", configuration: Configuration = Configuration()) {
        self.name = name
        var logger = configuration.logger
        logger[metadataKey: LogKey.system] = "\(name)"
        self.logger = logger
        let events = EventStream()
        self.events = events
        self.deadLetters = DeadLetterOffice(logger: logger, events: events, systemName: name)
        self.dispatcher = configuration.dispatcher
        self.guardian = Mailbox(id: .next(), path: Self.userPath, capacity: 1, deadLetters: deadLetters)
        launch(Props(supervision: configuration.guardianStrategy) { Guardian() }, mailbox: guardian, parent: nil)
    }

    /// Starts a top-level actor at `/user/<name>`, supervised by the guardian.
    /// Inlinable (as the message path it starts): a client module specialises the actor's cell for its behaviour.
    @inlinable
    public func spawn<B: ActorBehavior>(_ props: Props<B>, name: String) throws(ActorSystemError) -> ActorRef<B.Message> {
        let path = try reserveTopLevelName(name, significantPermanent: props.significant && props.restart == .permanent)
        let mailbox = Mailbox<B.Message>(id: .next(), path: path, capacity: props.mailboxCapacity,
                                         pushTimeout: props.mailboxPushTimeout, deadLetters: deadLetters)
        try adoptTopLevel(ChildRecord(handle: mailbox, props: props))
        launch(props, mailbox: mailbox, parent: guardian)
        return ActorRef(mailbox)
    }

    /// The checks of ``spawn(_:name:)``: a valid, free name, a system still accepting actors.
    @usableFromInline
    func reserveTopLevelName(_ name: String, significantPermanent: Bool) throws(ActorSystemError) -> ActorPath {
        guard ActorPath.isValidName(name) else { throw .invalidName(name) }
        let path = Self.userPath.appending(name)
        guard !significantPermanent else { throw .permanentSignificant(path) }
        let error = state.withLock { s -> ActorSystemError? in
            guard s.accepting else { return .notRunning(Self.userPath) }
            guard s.topLevelNames.insert(name).inserted else { return .duplicateName(path) }
            return nil
        }
        if let error { throw error }
        return path
    }

    /// Hands a new top-level actor to the guardian; its name is released when the guardian has stopped.
    @usableFromInline
    func adoptTopLevel(_ record: ChildRecord) throws(ActorSystemError) {
        guard guardian.sendSystem(.adopt(record)) else {
            releaseTopLevelName(record.path.name)
            throw .notRunning(Self.userPath)
        }
    }

    /// Stops every actor and waits until all have stopped: each supervisor stops its children one at a time,
    /// the last started first, each within its ``Props/shutdownTimeout`` (then it is given up on), so the
    /// wait is bounded by the sum of the timeouts. ``notStoppedInTime`` lists who had to be given up on.
    @discardableResult
    public func shutdown() async -> Termination {
        state.withLock { $0.accepting = false }
        guardian.sendSystem(.stop)
        return await terminated()
    }

    /// Waits until the system has terminated, by shutdown or by failure.
    public func terminated() async -> Termination {
        await withUnsafeContinuation { c in
            let done = state.withLock { s -> Termination? in
                if let r = s.result { return r }
                s.waiters.append(c)
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }

    /// How the system ended, or nil while it runs.
    public var termination: Termination? { state.withLock { $0.result } }

    /// Actors that did not stop within their shutdown timeout (each also announced as
    /// ``SystemEvent/notStoppedInTime(_:timeout:)``), in the order they were given up on.
    public var notStoppedInTime: [ActorPath] { state.withLock { $0.notStoppedInTime } }

    // MARK: internals

    @inlinable
    func startCell<B: ActorBehavior>(_ props: Props<B>, path: ActorPath, parent: any SystemMessageTarget) -> Mailbox<B.Message> {
        let mailbox = Mailbox<B.Message>(id: .next(), path: path, capacity: props.mailboxCapacity,
                                         pushTimeout: props.mailboxPushTimeout, deadLetters: deadLetters)
        launch(props, mailbox: mailbox, parent: parent)
        return mailbox
    }

    @inlinable
    func launch<B: ActorBehavior>(_ props: Props<B>, mailbox: Mailbox<B.Message>, parent: (any SystemMessageTarget)?) {
        let cell = ActorCell(props: props, mailbox: mailbox, system: self, parent: parent)
        let runnable = Runnable { await cell.runSlice() }
        mailbox.attach(cell: runnable, dispatcher: dispatcher)
        dispatcher.schedule(runnable)
    }

    func didNotStopInTime(_ path: ActorPath, timeout: Duration) {
        state.withLock { $0.notStoppedInTime.append(path) }
        events.publish(.notStoppedInTime(path, timeout: timeout))
    }

    func releaseTopLevelName(_ name: String) {
        _ = state.withLock { $0.topLevelNames.remove(name) }
    }

    func rootFailed(_ error: any Error) {
        logger.critical("the guardian gave up; stopping the actor system", metadata: [LogKey.reason: "\(error)"])
        state.withLock {
            $0.accepting = false
            if $0.failure == nil { $0.failure = "\(error)" }
        }
    }

    func guardianTerminated() {
        let (result, waiters) = state.withLock { s -> (Termination, [UnsafeContinuation<Termination, Never>]) in
            let r: Termination = s.failure.map { .failed($0) } ?? .shutdown
            s.result = r
            s.accepting = false
            let w = s.waiters
            s.waiters = []
            return (r, w)
        }
        events.publish(.systemTerminated(result))
        events.finish()
        for w in waiters { w.resume(returning: result) }
    }
}

/// The `/user` guardian: handles no messages, only supervises top-level actors.
final class Guardian: ActorBehavior {
    func receive(_ message: Never, context: ActorContext<Never>) async throws {}
}
