import ActorRuntime
import Foundation
import Logging
import Synchronization

/// An actor system for one test: spawn the actors under test, make probes, and await lifecycle events
/// (starts, failures, restarts, dead letters) with deadlines instead of sleeps.
///
///     let kit = ActorTestKit()
///     let ref = try kit.spawn(Props { Counter() }, name: "counter")
///     try await kit.expectEvent { if case .restarted(ref.path, _, _) = $0 { true } else { false } }
///     await kit.shutdown()
public final class ActorTestKit: Sendable {
    public let system: ActorSystem
    /// How long expectations wait unless told otherwise (10 s: a bound for what never happens, not a speed
    /// check; a debug build running the whole suite in parallel on two cores can be seconds late).
    public let defaultTimeout: Duration
    private let events = AwaitableQueue<SystemEvent>()
    private let seen = EventHistory()
    private let probeCount = Mutex(0)
    private let pump: Task<Void, Never>

    public init(name: String = "test", guardianStrategy: SupervisorStrategy = .oneForOne(maxRestarts: 100, within: .seconds(1)),
                defaultTimeout: Duration = .seconds(10)) {
        let system = ActorSystem(name: name, configuration: .init(guardianStrategy: guardianStrategy, logger: Self.logger()))
        self.system = system
        self.defaultTimeout = defaultTimeout
        let stream = system.events.subscribe()
        let queue = events
        let seen = self.seen
        pump = Task {
            for await event in stream {
                seen.append(event)
                queue.append(event)
            }
        }
    }

    /// Tests crash actors on purpose, so the kit logs only critical lines unless
    /// `TROUPE_TEST_LOG_LEVEL` (trace, debug, info, notice, warning, error, critical) says otherwise.
    static func logger() -> Logger {
        var logger = Logger(label: "troupe.test")
        let level = ProcessInfo.processInfo.environment["TROUPE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
        logger.logLevel = level ?? .critical
        return logger
    }

    /// Spawns a top-level actor.
    public func spawn<B: ActorBehavior>(_ props: Props<B>, name: String) throws -> ActorRef<B.Message> {
        try system.spawn(props, name: name)
    }

    /// A new probe receiving `Message`s.
    public func probe<Message: Sendable>(_ type: Message.Type = Message.self, name: String? = nil) throws -> TestProbe<Message> {
        let n = probeCount.withLock { $0 += 1; return $0 }
        return try TestProbe(system: system, name: name ?? "probe-\(n)", defaultTimeout: defaultTimeout)
    }

    /// Waits for the next event that `matches`, skipping others; throws if none comes in time.
    @discardableResult
    public func expectEvent(within timeout: Duration? = nil, _ description: String = "a matching event",
                            where matches: (SystemEvent) -> Bool) async throws -> SystemEvent {
        let t = timeout ?? defaultTimeout
        let deadline = ContinuousClock.now + t
        while true {
            let left = deadline - .now
            guard left > .zero, let event = await events.next(within: left) else {
                throw TestKitError("expected \(description) within \(t)")
            }
            if matches(event) { return event }
        }
    }

    /// Waits until `path` has been restarted (the next restart event for it).
    @discardableResult
    public func expectRestart(of path: ActorPath, within timeout: Duration? = nil) async throws -> SystemEvent {
        try await expectEvent(within: timeout, "a restart of \(path)") {
            if case .restarted(path, _, _) = $0 { true } else { false }
        }
    }

    /// Waits until the actors at `paths` have been restarted, in exactly that order; a restart of one of them
    /// out of turn fails. One-for-all and rest-for-one supervisors start children again in start order.
    public func expectRestarts(inOrder paths: [ActorPath], within timeout: Duration? = nil) async throws {
        try await expectInOrder(paths, "restarts", within: timeout) {
            if case .restarted(let p, _, _) = $0 { p } else { nil }
        }
    }

    /// Waits until the actors at `paths` have stopped, in exactly that order (a supervisor stops its children
    /// the last started first); a stop of one of them out of turn fails.
    public func expectStops(inOrder paths: [ActorPath], within timeout: Duration? = nil) async throws {
        try await expectInOrder(paths, "stops", within: timeout) {
            if case .stopped(let p) = $0 { p } else { nil }
        }
    }

    private func expectInOrder(_ paths: [ActorPath], _ what: String, within timeout: Duration?,
                               pick: @escaping (SystemEvent) -> ActorPath?) async throws {
        let wanted = Set(paths)
        let deadline = ContinuousClock.now + (timeout ?? defaultTimeout)
        for (n, expected) in paths.enumerated() {
            let event = try await expectEvent(within: max(deadline - .now, .zero), "\(what) of \(paths[n...].map(\.description))") {
                pick($0).map(wanted.contains) ?? false
            }
            let got = pick(event)!
            guard got == expected else {
                throw TestKitError("expected \(what) in the order \(paths.map(\.description)); after \(n) of them came \(got), not \(expected)")
            }
        }
    }

    /// Waits until `path` has stopped.
    public func expectStopped(_ path: ActorPath, within timeout: Duration? = nil) async throws {
        try await expectEvent(within: timeout, "\(path) to stop") {
            if case .stopped(path) = $0 { true } else { false }
        }
    }

    /// Waits for the next dead letter, optionally for one recipient.
    public func expectDeadLetter(to path: ActorPath? = nil, within timeout: Duration? = nil) async throws -> DeadLetter {
        let e = try await expectEvent(within: timeout, "a dead letter") {
            if case .deadLetter(let l) = $0 { return path == nil || l.recipient == path }
            return false
        }
        guard case .deadLetter(let letter) = e else { throw TestKitError("unreachable") }
        return letter
    }

    /// Every event seen so far, in order (including those already consumed by expectations).
    public var history: [SystemEvent] { seen.all }

    /// Stops the system and waits for it.
    @discardableResult
    public func shutdown() async -> ActorSystem.Termination {
        let t = await system.shutdown()
        pump.cancel()
        return t
    }
}

/// Every event a test kit has seen.
final class EventHistory: Sendable {
    private let events = Mutex<[SystemEvent]>([])
    func append(_ e: SystemEvent) { events.withLock { $0.append(e) } }
    var all: [SystemEvent] { events.withLock { $0 } }
}
