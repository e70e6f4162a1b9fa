import Logging

/// Hosts one actor: owns its behaviour instance, handles its messages in slices run by a
/// ``Dispatcher`` worker, and carries out the lifecycle (start, failure, restart, stop) and its duties
/// as a supervisor of its own children.
///
/// `@unchecked Sendable`: at most one worker runs a cell at a time. The cell is handed over only through
/// its mailbox's idle flag (set and cleared under the mailbox lock) and the dispatcher's queue, which
/// also order the memory accesses. Other actors reach it only through its ``Mailbox``.
final class ActorCell<B: ActorBehavior>: CellCore, @unchecked Sendable {
    /// Messages a slice handles at most before the worker moves on to other cells (fairness).
    static var sliceBudget: Int { 64 }

    let props: Props<B>
    let mailbox: Mailbox<B.Message>
    let logger: Logger
    @exclusivity(unchecked) private var behavior: B?
    @exclusivity(unchecked) private var context: ActorContext<B.Message>!
    // Hot path state, touched only by the worker running this cell: no dynamic exclusivity checks.
    @exclusivity(unchecked) private var batch: [B.Message?] = []
    @exclusivity(unchecked) private var cursor = 0
    @exclusivity(unchecked) private var systemBatch: [SystemMessage] = []
    private var lastFailure: (any Error)?
    private var pendingRestart: (reason: String, delay: Duration)?
    private var restartGeneration: UInt64 = 0
    private var started = false

    override var selfHandle: any SystemMessageTarget { mailbox }

    init(props: Props<B>, mailbox: Mailbox<B.Message>, system: ActorSystem, parent: (any SystemMessageTarget)?) {
        self.props = props
        self.mailbox = mailbox
        var logger = system.logger
        logger[metadataKey: LogKey.actorPath] = "\(mailbox.path)"
        self.logger = logger
        super.init(system: system, parent: parent, strategy: props.supervision)
        self.context = ActorContext(myself: ActorRef(mailbox), core: self, logger: logger)
    }

    // MARK: the loop

    func runSlice() async -> Bool {
        if !started {
            started = true
            await startInstance(restartReason: nil, delay: .zero)
        }
        var budget = Self.sliceBudget
        while phase != .terminated {
            let busy = phase == .running && cursor < batch.count
            if !busy || mailbox.hasSystemMessages {
                let wantUser = phase == .running && !busy
                if wantUser, !batch.isEmpty {
                    batch.removeAll(keepingCapacity: true)
                    cursor = 0
                }
                // Finding nothing when not busy marks the cell idle in the same critical section.
                if mailbox.take(takeUser: wantUser, idleIfEmpty: !busy, batch: &batch, system: &systemBatch) {
                    if !systemBatch.isEmpty { await handleSystemBatch() }
                } else if !busy {
                    return false                                   // idle: the next message schedules us again
                }
                continue
            }
            if budget <= 0 { return true }                         // more to do: back of the queue
            while phase == .running, cursor < batch.count, budget > 0 {
                let message = batch[cursor].take()!            // moved out: no copy per message
                cursor += 1
                budget -= 1
                await deliver(message)
                if stopSelfRequested { await beginStop() }
                if mailbox.hasSystemMessages { break }
            }
        }
        return false
    }

    /// Hands one message to the behaviour, applying the failure policy to what it throws.
    private func deliver(_ message: B.Message) async {
        guard let behavior else { return }
        do {
            try await behavior.receive(message, context: context)
        } catch {
            await recover(message, from: error)
        }
    }

    /// The failure policy: retry a transient error with backoff, dead-letter the rest, crash on the
    /// unclassified. Out of line, so that the message path's frame stays small.
    @inline(never)
    private func recover(_ message: B.Message, from firstError: any Error) async {
        var error = firstError
        var attempt = 1
        while true {
            let policy = props.failurePolicy
            switch policy.classify(error) {
            case .transient where policy.retry.shouldRetry(afterAttempt: attempt):
                let delay = policy.retry.delay(afterAttempt: attempt)
                attempt += 1
                system.events.publish(.retrying(path, attempt: attempt, delay: delay, reason: "\(error)"))
                Dispatcher.workerWillBlock()
                try? await Task.sleep(for: delay)
                guard let behavior else { return }
                do {
                    try await behavior.receive(message, context: context)
                    return
                } catch let next {
                    error = next
                }
            case .transient:
                deadLetter(message, reason: "retries exhausted: \(error)", attempts: attempt)
                return
            case .permanent:
                deadLetter(message, reason: "permanent failure: \(error)", attempts: attempt)
                return
            case .crash:
                deadLetter(message, reason: "actor failed while handling it: \(error)", attempts: attempt)
                await fail(error)
                return
            }
        }
    }

    private func deadLetter(_ message: B.Message, reason: String, attempts: Int) {
        mailbox.deadLetters.publish(DeadLetter(recipient: path, message: message, reason: reason, attempts: attempts))
    }

    // MARK: system messages

    /// Out of line: system messages carry types of unknown size (clock instants), whose buffers would
    /// otherwise be allocated on every slice.
    @inline(never)
    private func handleSystemBatch() async {
        for message in systemBatch { await handleSystem(message) }
        systemBatch.removeAll(keepingCapacity: true)
    }

    private func handleSystem(_ message: SystemMessage) async {
        if phase == .terminated {
            if case .watch(let watcher) = message { watcher.sendSystem(.terminated(path, mailbox.id)) }
            return
        }
        switch message {
        case .stop:
            await beginStop()
        case .restart(let reason, let delay):
            await beginRestart(reason: reason, delay: delay)
        case .restartNow(let generation):
            if phase == .restarting, pendingRestart == nil, behavior == nil, generation == restartGeneration {
                await startInstance(restartReason: lastFailureDescription, delay: lastDelay)
            }
        case .childFailed(let id, let error):
            await supervise(childID: id, error: error)
        case .childTerminated(let id):
            await childTerminated(id)
        case .watch(let watcher):
            watchers[watcher.id] = watcher
        case .unwatch(let id):
            watchers.removeValue(forKey: id)
        case .terminated(let watchedPath, let id):
            guard watching.removeValue(forKey: id) != nil, phase == .running, let behavior else { return }
            do { try await behavior.receiveSignal(.terminated(watchedPath), context: context) } catch { await fail(error) }
            if stopSelfRequested { await beginStop() }
        case .timerFired(let key, let generation):
            guard phase == .running, let message = context.timers.fired(key: key, generation: generation) else { return }
            await deliver(message)
            if stopSelfRequested { await beginStop() }
        case .adopt(let record):
            children.append(record)
            if phase == .stopping || phase == .restarting { record.handle.sendSystem(.stop) }
        }
    }

    // MARK: lifecycle

    private var lastFailureDescription = ""
    private var lastDelay: Duration = .zero

    @inline(never)
    private func startInstance(restartReason: String?, delay: Duration) async {
        let fresh = props.factory()
        behavior = fresh
        lastFailure = nil
        stopSelfRequested = false
        watching.removeAll()
        window = RestartWindow(strategy.intensity)
        phase = .starting
        do {
            try await fresh.preStart(context: context)
        } catch {
            await fail(error)
            return
        }
        phase = .running
        if let restartReason {
            logger.info("restarted", metadata: [LogKey.reason: "\(restartReason)"])
            system.events.publish(.restarted(path, reason: restartReason, delay: delay))
        } else {
            system.events.publish(.started(path))
        }
        if stopSelfRequested { await beginStop() }
    }

    /// The behaviour crashed: wait for the supervisor (or, at the root, stop the system).
    @inline(never)
    private func fail(_ error: any Error) async {
        phase = .failed
        lastFailure = error
        logger.error("actor failed", metadata: [LogKey.reason: "\(error)"])
        system.events.publish(.failed(path, reason: "\(error)"))
        if let parent {
            parent.sendSystem(.childFailed(mailbox.id, error))
        } else {
            system.rootFailed(error)
            await beginStop()
        }
    }

    private func supervise(childID: ActorID, error: any Error) async {
        guard let index = children.firstIndex(where: { $0.id == childID }) else { return }
        let failed = children[index]
        guard phase == .running || phase == .starting, failed.restart != .temporary else {
            failed.handle.sendSystem(.stop)        // going down anyway, or never restarted
            return
        }
        let now = ContinuousClock.now
        guard window.allowRestart(at: now) else {
            let escalation = SupervisionError.intensityExceeded(path, child: failed.path, strategy.intensity, cause: error)
            logger.error("restart intensity exceeded, escalating", metadata: [LogKey.reason: "\(escalation)"])
            system.events.publish(.escalated(path, reason: escalation.description))
            await fail(escalation)
            return
        }
        let delay = children[index].nextRestartDelay(at: now)
        for i in strategy.childrenToRestart(failed: index, childCount: children.count) {
            let reason = i == index ? "\(error)" : "restarted with \(failed.path) (\(strategy.kind.rawValue)): \(error)"
            children[i].handle.sendSystem(.restart(reason: reason, delay: delay))
        }
    }

    private func childTerminated(_ id: ActorID) async {
        guard let index = children.firstIndex(where: { $0.id == id }) else { return }
        let child = children.remove(at: index)
        if parent == nil { system.releaseTopLevelName(child.path.name) }
        guard children.isEmpty else { return }
        if phase == .stopping { await finishStop() } else if phase == .restarting, pendingRestart != nil { await continueRestart() }
    }

    private func beginRestart(reason: String, delay: Duration) async {
        guard phase != .stopping, phase != .terminated, phase != .restarting else { return }
        phase = .restarting
        pendingRestart = (reason, delay)
        context.timers.cancelAll()
        for child in children { child.handle.sendSystem(.stop) }
        if children.isEmpty { await continueRestart() }
    }

    /// Children are gone: run preRestart on the old instance, then start a fresh one after the backoff.
    private func continueRestart() async {
        guard let (reason, delay) = pendingRestart else { return }
        pendingRestart = nil
        if let old = behavior {
            await old.preRestart(reason: lastFailure ?? RestartRequest(reason: reason), context: context)
        }
        behavior = nil
        lastFailureDescription = reason
        lastDelay = delay
        if delay > .zero {
            restartGeneration &+= 1
            let generation = restartGeneration
            let mailbox = self.mailbox
            Task.detached {
                try? await Task.sleep(for: delay)
                mailbox.sendSystem(.restartNow(generation: generation))
            }
        } else {
            await startInstance(restartReason: reason, delay: .zero)
        }
    }

    @inline(never)
    private func beginStop() async {
        stopSelfRequested = false
        guard phase != .stopping, phase != .terminated else { return }
        phase = .stopping
        pendingRestart = nil
        context.timers.cancelAll()
        for child in children { child.handle.sendSystem(.stop) }
        if children.isEmpty { await finishStop() }
    }

    /// Children are gone: postStop, close the mailbox, dead-letter what is left, tell watchers and parent.
    private func finishStop() async {
        if let behavior { await behavior.postStop(context: context) }
        behavior = nil
        phase = .terminated
        let (leftUser, leftSystem) = mailbox.close()
        for case let message? in batch[cursor...] { deadLetter(message, reason: "recipient stopped", attempts: 0) }
        for message in leftUser { deadLetter(message, reason: "recipient stopped", attempts: 0) }
        batch = []
        cursor = 0
        for message in leftSystem {
            if case .watch(let watcher) = message { watchers[watcher.id] = watcher }
        }
        for watcher in watchers.values { watcher.sendSystem(.terminated(path, mailbox.id)) }
        watchers.removeAll()
        logger.debug("stopped")
        system.events.publish(.stopped(path))
        if let parent { parent.sendSystem(.childTerminated(mailbox.id)) } else { system.guardianTerminated() }
    }
}

/// The reason handed to ``ActorBehavior/preRestart(reason:context:)`` when the actor did not fail
/// itself but is restarted with a failed sibling.
public struct RestartRequest: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
