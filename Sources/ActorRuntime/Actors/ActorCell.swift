import Logging
import Synchronization

/// Hosts one actor: owns its behaviour instance, handles its messages in slices run by a
/// ``Dispatcher`` worker, and carries out the lifecycle (start, failure, restart, stop) and its duties
/// as a supervisor of its own children.
///
/// `@unchecked Sendable`: at most one worker runs a cell at a time. The cell is handed over only through
/// its mailbox's idle flag (set and cleared under the mailbox lock) and the dispatcher's queue, which
/// also order the memory accesses. Other actors reach it only through its ``Mailbox``.
///
/// The message path (`runSlice`, `deliver`) is inlinable, so that the module defining a behaviour specialises
/// it for that behaviour's message type; the rest (lifecycle, supervision) runs unspecialised, out of line.
@usableFromInline
final class ActorCell<B: ActorBehavior>: CellCore, @unchecked Sendable {
    /// Messages a slice handles at most before the worker moves on to other cells (fairness).
    @inlinable static var sliceBudget: Int { 64 }

    /// What the cell keeps of its props (the rest went to its mailbox and its parent's record of it).
    let factory: @Sendable () -> B
    let customFailurePolicy: FailurePolicyBox?
    let restartType: RestartType
    @usableFromInline let mailbox: Mailbox<B.Message>
    /// Made when a line is logged (cold paths only): an idle actor keeps no logger of its own.
    var logger: Logger {
        var logger = system.logger
        logger[metadataKey: LogKey.actorPath] = "\(mailbox.path)"
        return logger
    }
    @usableFromInline @exclusivity(unchecked) var behavior: B?
    @usableFromInline @exclusivity(unchecked) var context: ActorContext<B.Message>!
    // Hot path state, touched only by the worker running this cell: no dynamic exclusivity checks.
    @usableFromInline @exclusivity(unchecked) var batch: [B.Message?] = []
    @usableFromInline @exclusivity(unchecked) var cursor = 0
    @usableFromInline @exclusivity(unchecked) var systemBatch: [SystemMessage] = []
    private var lastFailure: (any Error)?
    private var pendingRestart: (reason: String, delay: Duration)?
    private var restartGeneration: UInt64 = 0
    // Read by the inlined loop from client modules: without `unchecked`, every read is a dynamic exclusivity
    // check (the compiler can no longer see all accesses, as it could while these were private).
    @usableFromInline @exclusivity(unchecked) var started = false
    /// A message that failed transiently and waits out its backoff; user messages wait behind it.
    @usableFromInline @exclusivity(unchecked) var retrying: PendingRetry?
    /// Timers that fired and wait their turn among user messages (each takes one of the slice's budget, so a
    /// fast periodic timer cannot starve them); at most one per timer. Checked again when delivered: a timer
    /// cancelled meanwhile delivers nothing.
    private var dueTimers: [(key: String, generation: UInt64)] = [] {
        didSet { hasDueTimers = !dueTimers.isEmpty }
    }
    /// `!dueTimers.isEmpty`, for the inlined loop: a flag reads without touching the array.
    @usableFromInline @exclusivity(unchecked) var hasDueTimers = false
    private var retryGeneration: UInt64 = 0
    /// The child asked to stop, while children are stopped one at a time.
    private var stoppingChild: (id: ActorID, timer: DeadlineTimer.Token, generation: UInt64)?
    /// Numbers the shutdown-timeout timers, so that one from an earlier stop or plan round is told apart.
    private var stopTimers: UInt64 = 0
    /// The one-for-all or rest-for-one restart of children under way.
    private var plan: RestartPlan?
    private var planGeneration: UInt64 = 0
    /// Taken down by the parent's restart plan: after `preRestart`, answer and wait for `resume`.
    private var suspending = false
    private var awaitingResume = false
    /// The restart intensity was exceeded: once the children have stopped, fail with this (OTP's supervisor
    /// terminates its children before it exits).
    private var pendingEscalation: (any Error)?

    @usableFromInline
    struct PendingRetry {
        let message: B.Message
        /// The attempt the retry will be.
        let attempt: Int
        let generation: UInt64
        let timer: DeadlineTimer.Token
    }

    @usableFromInline override var selfHandle: any SystemMessageTarget { mailbox }

    @usableFromInline
    init(props: Props<B>, mailbox: Mailbox<B.Message>, system: ActorSystem, parent: (any SystemMessageTarget)?) {
        self.factory = props.factory
        self.customFailurePolicy = props.customFailurePolicy
        self.restartType = props.restart
        self.mailbox = mailbox
        super.init(system: system, parent: parent, strategy: props.supervision)
        self.context = ActorContext(myself: ActorRef(mailbox), core: self)
    }

    // MARK: the loop

    @inlinable
    func runSlice() async -> Bool {
        if !started {
            started = true
            await startInstance(restartReason: nil, delay: .zero)
        }
        var budget = Self.sliceBudget
        while phase != .terminated {
            // While a retry waits out its backoff, only system messages are handled.
            let busy = phase == .running && retrying == nil && (cursor < batch.count || hasDueTimers)
            if !busy || mailbox.hasSystemMessages {
                let wantUser = phase == .running && retrying == nil && cursor >= batch.count
                if wantUser, !batch.isEmpty {
                    batch.removeAll(keepingCapacity: true)
                    cursor = 0
                }
                // Finding nothing when not busy marks the cell idle in the same critical section.
                var wentIdle = false
                if mailbox.take(takeUser: wantUser, idleIfEmpty: !busy, batch: &batch, system: &systemBatch, wentIdle: &wentIdle) {
                    if !systemBatch.isEmpty { await handleSystemBatch() }
                } else if wentIdle {
                    // Idle: whoever wakes us (a message, or a give-up's forceClose) schedules the next slice,
                    // which may already run: this one must not touch the cell any more.
                    return false
                } else if mailbox.givenUp.load(ordering: .relaxed) {
                    await stopGivenUp()                            // the parent stopped waiting: stop now
                    return false
                } else if !busy {
                    return false                                   // idle: the next message schedules us again
                }
                continue
            }
            if budget <= 0 { return true }                         // more to do: back of the queue
            while phase == .running, retrying == nil, budget > 0 {
                if hasDueTimers {                              // a timer's turn, then a user message's
                    budget -= 1
                    await deliverDueTimer()
                    if stopSelfRequested { await stopItself() }
                    if mailbox.givenUp.load(ordering: .relaxed) { break }   // given up on: no more messages
                    // Not a break for system messages here: a timer firing during its own handler would
                    // otherwise come first again every time. They are looked at after the user message.
                    guard phase == .running, retrying == nil, budget > 0 else { break }
                }
                guard cursor < batch.count else { break }
                let message = batch[cursor].take()!            // moved out: no copy per message
                cursor += 1
                budget -= 1
                await deliver(message)
                if stopSelfRequested { await stopItself() }
                if mailbox.hasSystemMessages { break }
            }
        }
        return false
    }

    /// Hands one message to the behaviour, applying the failure policy to what it throws.
    @inlinable
    func deliver(_ message: B.Message) async {
        guard let behavior else { return }
        do {
            try await behavior.receive(message, context: context)
        } catch {
            await recover(message, from: error)
        }
    }

    /// The failure policy: retry a transient error after a backoff, dead-letter the rest, crash on the
    /// unclassified. The backoff is a timer, not a sleep: meanwhile the cell handles system messages (stop,
    /// restart, supervision) and holds back user messages, so their order is kept. Out of line, so that the
    /// message path's frame stays small.
    @inline(never) @usableFromInline
    func recover(_ message: B.Message, from error: any Error, attempt: Int = 1) async {
        if mailbox.givenUp.load(ordering: .relaxed) {        // a forced stop cancelled the handler: not a crash
            deadLetter(message, reason: "recipient did not stop within its shutdown timeout; its handler was cancelled: \(error)",
                       attempts: attempt)
            return
        }
        let policy = customFailurePolicy?.policy ?? .default
        switch policy.classify(error) {
        case .transient where policy.retry.shouldRetry(afterAttempt: attempt):
            let delay = policy.retry.delay(afterAttempt: attempt)
            system.events.publish(.retrying(path, attempt: attempt + 1, delay: delay, reason: "\(error)"))
            retryGeneration &+= 1
            let generation = retryGeneration
            let mailbox = self.mailbox
            let timer = DeadlineTimer.shared.schedule(after: delay) { mailbox.sendSystem(.retryDue(generation: generation)) }
            retrying = PendingRetry(message: message, attempt: attempt + 1, generation: generation, timer: timer)
        case .transient:
            deadLetter(message, reason: "retries exhausted: \(error)", attempts: attempt)
        case .permanent:
            deadLetter(message, reason: "permanent failure: \(error)", attempts: attempt)
        case .crash:
            deadLetter(message, reason: "actor failed while handling it: \(error)", attempts: attempt)
            await fail(error)
        }
    }

    /// The backoff passed: run the message again.
    private func retryDue(_ generation: UInt64) async {
        guard let pending = retrying, pending.generation == generation else { return }
        retrying = nil
        guard phase == .running, let behavior else {
            deadLetter(pending.message, reason: "actor not running when its retry was due", attempts: pending.attempt - 1)
            return
        }
        do {
            try await behavior.receive(pending.message, context: context)
        } catch {
            await recover(pending.message, from: error, attempt: pending.attempt)
        }
        if stopSelfRequested { await stopItself() }
    }

    /// The oldest due timer's message, if the timer is still current.
    @usableFromInline
    func deliverDueTimer() async {
        let (key, generation) = dueTimers.removeFirst()
        guard let message = context.startedTimers?.fired(key: key, generation: generation) else { return }
        await deliver(message)
    }

    /// A retry that will not happen (the actor stops or restarts): its message becomes a dead letter.
    private func dropPendingRetry(_ reason: String) {
        dueTimers.removeAll()                              // timers are cancelled on stop and restart
        guard let pending = retrying else { return }
        retrying = nil
        DeadlineTimer.shared.cancel(pending.timer)
        deadLetter(pending.message, reason: reason, attempts: pending.attempt - 1)
    }

    private func deadLetter(_ message: B.Message, reason: String, attempts: Int) {
        mailbox.deadLetters.publish(DeadLetter(recipient: path, message: message, reason: reason, attempts: attempts))
    }

    // MARK: system messages

    /// Out of line: system messages carry types of unknown size (clock instants), whose buffers would
    /// otherwise be allocated on every slice.
    @inline(never) @usableFromInline
    func handleSystemBatch() async {
        for message in systemBatch { await handleSystem(message) }
        systemBatch.removeAll(keepingCapacity: true)
    }

    private func handleSystem(_ message: SystemMessage) async {
        if phase == .terminated {
            if case .watch(let watcher) = message { watcher.sendSystem(.terminated(path, mailbox.id)) }
            if case .countWatchers(let reply) = message { reply.send(0) }
            return
        }
        switch message {
        case .stop:
            await beginStop()
        case .restart(let reason, let delay):
            await beginRestart(reason: reason, delay: delay)
        case .suspend(let reason):
            await suspend(reason: reason)
        case .resume(let reason, let delay):
            guard awaitingResume, phase == .restarting else { return }
            awaitingResume = false
            await startInstance(restartReason: reason, delay: delay)
            if phase == .running { parent?.sendSystem(.childResumed(mailbox.id)) }
        case .childSuspended(let id):
            guard let p = plan, case .takingDown(let index, let timer) = p.step, p.members[index].id == id else { return }
            DeadlineTimer.shared.cancel(timer)
            await takeDownNext(below: index)
        case .childResumed(let id):
            guard let p = plan, case .starting(let index) = p.step, p.members[index].id == id else { return }
            await startMember(index + 1)
        case .planBackoffDone(let generation):
            guard let p = plan, case .backoff(generation, _) = p.step else { return }
            await startMember(0)
        case .restartNow(let generation, let reason, let delay):
            if phase == .restarting, pendingRestart == nil, behavior == nil, generation == restartGeneration {
                await startInstance(restartReason: reason, delay: delay)
            }
        case .childFailed(let id, let error):
            await supervise(childID: id, error: error)
        case .childTerminated(let id):
            await childTerminated(id)
        case .childStopTimedOut(let id, let generation):
            await childStopTimedOut(id, generation: generation)
        case .retryDue(let generation):
            await retryDue(generation)
        case .countWatchers(let reply):
            reply.send(watchers.count)
        case .watch(let watcher):
            watchers[watcher.id] = watcher
        case .unwatch(let id):
            watchers.removeValue(forKey: id)
        case .terminated(let watchedPath, let id):
            guard watching.removeValue(forKey: id) != nil, phase == .running, let behavior else { return }
            do { try await behavior.receiveSignal(.terminated(watchedPath), context: context) } catch { await fail(error) }
            if stopSelfRequested { await stopItself() }
        case .timerFired(let key, let generation):
            // Its turn comes in the user loop (after a retried message, too); one pending tick per timer.
            guard phase == .running, !dueTimers.contains(where: { $0.key == key && $0.generation == generation }) else { return }
            dueTimers.append((key, generation))
        case .adopt(let record):
            children.append(record)
            if phase == .stopping || phase == .restarting { record.handle.sendSystem(.stop) }
        }
    }

    // MARK: lifecycle

    @inline(never) @usableFromInline
    func startInstance(restartReason: String?, delay: Duration) async {
        let fresh = factory()
        behavior = fresh
        lastFailure = nil
        stopSelfRequested = false
        dropWatches()
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
        // `context.stop()` in preStart is OTP's `ignore`: the actor stops for good, whatever its restart type
        // (restarting it would only stop it again, until its supervisor gives up).
        if stopSelfRequested {
            stopSelfRequested = false
            await beginStop()
        }
    }

    /// The behaviour crashed: wait for the supervisor (or, at the root, stop the system).
    @inline(never)
    private func fail(_ error: any Error) async {
        phase = .failed
        cancelPlan()                                   // its children wait for what its supervisor decides
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
        guard !failed.stopRequested else { return }             // being stopped by us: its .stop is on its way
        guard phase == .running || phase == .starting, failed.restart != .temporary else {
            failed.handle.sendSystem(.stop)        // going down anyway, or never restarted
            return
        }
        let now = ContinuousClock.now
        guard window.allowRestart(at: now) else {
            await escalate(.intensityExceeded(path, child: failed.path, strategy.intensity, cause: error))
            return
        }
        let delay = children[index].nextRestartDelay(at: now)
        if strategy.kind == .oneForOne {
            failed.handle.sendSystem(.restart(reason: "\(error)", delay: delay))
            return
        }
        let members = children[strategy.childrenToRestart(failed: index, childCount: children.count)].map { child in
            RestartPlan.Member(id: child.id, temporary: child.restart == .temporary,
                               reason: child.id == childID ? "\(error)" : "restarted with \(failed.path) (\(strategy.kind.rawValue)): \(error)")
        }
        if let current = plan {
            cancelPlanTimer(current)
            current.merge(members, delay: delay, order: children.map(\.id))
        } else {
            plan = RestartPlan(members: members, delay: delay)
        }
        await takeDownNext(below: plan!.members.count)
    }

    /// The supervisor gives up: as OTP's, it stops its children (last started first, within their timeouts),
    /// then fails to its own parent. Meanwhile it supervises no more.
    private func escalate(_ escalation: SupervisionError) async {
        logger.error("supervisor gives up, escalating", metadata: [LogKey.reason: "\(escalation)"])
        system.events.publish(.escalated(path, reason: escalation.description))
        phase = .failed
        cancelPlan()
        context.startedTimers?.cancelAll()
        pendingEscalation = escalation
        await stopNextChild()
    }

    // MARK: one-for-all and rest-for-one restarts (RestartPlan)

    /// Takes down the plan's member just below `index` (the last started first), within its shutdown timeout;
    /// when none is left, waits out the backoff.
    private func takeDownNext(below index: Int) async {
        guard let p = plan else { return }
        let i = index - 1
        guard i >= 0 else {
            guard p.delay > .zero else { return await startMember(0) }
            planGeneration &+= 1
            let generation = planGeneration
            let me = mailbox
            let timer = DeadlineTimer.shared.schedule(after: p.delay) { me.sendSystem(.planBackoffDone(generation: generation)) }
            p.step = .backoff(generation: generation, timer: timer)
            return
        }
        let member = p.members[i]
        guard let at = children.firstIndex(where: { $0.id == member.id }) else {
            _ = p.remove(member.id)                                 // gone meanwhile
            return await takeDownNext(below: i)
        }
        if member.temporary { children[at].stopRequested = true }  // not an end of its own
        let child = children[at]
        let me = mailbox
        stopTimers &+= 1
        let generation = stopTimers
        let timer = DeadlineTimer.shared.schedule(after: child.shutdownTimeout) {
            me.sendSystem(.childStopTimedOut(member.id, generation: generation))
        }
        p.step = .takingDown(index: i, timer: timer)
        p.takeDownTimer = generation
        // A temporary child is stopped for good (OTP does not restart it, even with its siblings).
        child.handle.sendSystem(member.temporary ? .stop : .suspend(reason: member.reason))
    }

    /// Starts the plan's member at `index` again (its predecessors run); past the last, the plan is done.
    private func startMember(_ index: Int) async {
        guard let p = plan else { return }
        var i = index
        while i < p.members.count, p.members[i].temporary { i += 1 }
        guard i < p.members.count, let child = children.first(where: { $0.id == p.members[i].id }) else {
            if i < p.members.count {                                 // gone meanwhile
                _ = p.remove(p.members[i].id)
                p.step = nil
                return await startMember(i)
            }
            plan = nil
            return
        }
        p.step = .starting(index: i)
        child.handle.sendSystem(.resume(reason: p.members[i].reason, delay: p.delay))
    }

    /// A member of the plan is gone (stopped, or given up on): the step waiting for it goes on without it.
    private func planLost(_ id: ActorID) async {
        guard let p = plan else { return }
        let step = p.step
        let awaited = p.remove(id)
        guard awaited else { return }
        switch step {
        case .takingDown(let index, let timer):
            DeadlineTimer.shared.cancel(timer)
            await takeDownNext(below: index)
        case .starting(let index):
            await startMember(index)
        case .backoff, nil:
            break
        }
    }

    private func cancelPlanTimer(_ p: RestartPlan) {
        switch p.step {
        case .takingDown(_, let timer), .backoff(_, let timer): DeadlineTimer.shared.cancel(timer)
        case .starting, nil: break
        }
    }

    private func cancelPlan() {
        if let p = plan { cancelPlanTimer(p) }
        plan = nil
    }

    /// Taken down by the parent's restart plan: children stop, `preRestart` runs, the instance is dropped;
    /// then the parent is told and the cell waits for `resume`, holding its user messages.
    private func suspend(reason: String) async {
        if awaitingResume { parent?.sendSystem(.childSuspended(mailbox.id)); return }
        // Stopping: the parent hears of its end instead. Restarting: only under a one-for-one parent.
        guard phase != .stopping, phase != .terminated, phase != .restarting else { return }
        phase = .restarting
        suspending = true
        pendingRestart = (reason, .zero)
        cancelPlan()
        pendingEscalation = nil
        context.startedTimers?.cancelAll()
        dropPendingRetry("actor restarted during the message's retry backoff")
        await stopNextChild()
    }

    /// `context.stop()`: a permanent actor ends only to be restarted (OTP restarts a permanent child whatever
    /// its exit reason); a transient or temporary one, or one without a parent, stops for good.
    @usableFromInline
    func stopItself() async {
        stopSelfRequested = false
        guard phase != .failed else { return }                      // it crashed after asking: the crash decides
        guard restartType == .permanent, let parent, phase == .running else {
            return await beginStop()
        }
        cancelPlan()
        phase = .failed
        lastFailure = ExitedNormally()
        logger.info("stopped itself; permanent, so its supervisor restarts it")
        parent.sendSystem(.childFailed(mailbox.id, ExitedNormally()))
    }

    private func childTerminated(_ id: ActorID) async {
        // Children stop from the last one: searching from the end finds it at once (N children, not N²).
        guard let index = children.lastIndex(where: { $0.id == id }) else { return }
        let child = children.remove(at: index)
        if parent == nil { system.releaseTopLevelName(child.path.name) }
        if let waiting = stoppingChild, waiting.id == id {
            DeadlineTimer.shared.cancel(waiting.timer)
            stoppingChild = nil
        }
        await planLost(id)
        if phase == .stopping || (phase == .restarting && pendingRestart != nil) || pendingEscalation != nil {
            await stopNextChild()
        } else if child.significant, !child.stopRequested, phase == .running {
            await significantChildEnded()
        }
    }

    /// A significant child stopped on its own: the supervisor stops too when its auto shutdown says so (OTP).
    private func significantChildEnded() async {
        switch strategy.autoShutdown {
        case .never: return
        case .anySignificant: break
        case .allSignificant: guard !children.contains(where: \.significant) else { return }
        }
        logger.info("significant child stopped on its own; stopping (auto shutdown)")
        await stopItself()
    }

    /// A child did not stop within its shutdown timeout: give up on it (its mailbox is closed, what it
    /// holds becomes dead letters; it runs its stop when its handler returns), report it, go on.
    private func childStopTimedOut(_ id: ActorID, generation: UInt64) async {
        let planWaits: Bool
        if let p = plan, case .takingDown = p.step, p.awaited == id, p.takeDownTimer == generation { planWaits = true } else { planWaits = false }
        guard planWaits || (stoppingChild?.id == id && stoppingChild?.generation == generation),
              let index = children.lastIndex(where: { $0.id == id }) else { return }
        // Stopped right at its deadline: its childTerminated is on its way.
        guard !children[index].handle.hasStopped else { return }
        if !planWaits { stoppingChild = nil }
        let child = children.remove(at: index)
        if parent == nil { system.releaseTopLevelName(child.path.name) }
        logger.warning("child did not stop within its shutdown timeout; given up on",
                       metadata: [LogKey.reason: "\(child.path) after \(child.shutdownTimeout)"])
        system.didNotStopInTime(child.path, timeout: child.shutdownTimeout)
        child.handle.forceClose(reason: "recipient did not stop within its shutdown timeout (\(child.shutdownTimeout))")
        if !planWaits {
            await stopNextChild()
        } else if child.restart == .temporary {
            await planLost(id)                                      // it was to be stopped anyway
        } else {
            // Given up on, it cannot be started again behind its references: without it the plan cannot
            // restore the children it supervises, so the supervisor gives up in turn (OTP would start a new
            // process; a Troupe reference is one mailbox for good).
            await escalate(.childNotTakenDownInTime(path, child: child.path, timeout: child.shutdownTimeout))
        }
    }

    /// Stops the children one at a time, the last started first (OTP), each within its shutdown timeout;
    /// when none is left, goes on with the stop or restart that asked for it.
    private func stopNextChild() async {
        guard stoppingChild == nil else { return }                  // one is on its way down
        guard let child = children.last else {
            if phase == .stopping {
                await finishStop()
            } else if phase == .restarting, pendingRestart != nil {
                await continueRestart()
            } else if let escalation = pendingEscalation {
                pendingEscalation = nil
                await fail(escalation)
            }
            return
        }
        let me = mailbox
        let id = child.id
        stopTimers &+= 1
        let generation = stopTimers
        let timer = DeadlineTimer.shared.schedule(after: child.shutdownTimeout) { me.sendSystem(.childStopTimedOut(id, generation: generation)) }
        stoppingChild = (id, timer, generation)
        child.handle.sendSystem(.stop)
    }

    /// The parent gave up waiting for this actor: its children are given up on too (each runs its own stop
    /// when it can), then it stops.
    @usableFromInline
    func stopGivenUp() async {
        if let waiting = stoppingChild { DeadlineTimer.shared.cancel(waiting.timer) }
        stoppingChild = nil
        for child in children.reversed() {
            child.handle.forceClose(reason: "recipient's supervisor \(path) did not stop within its shutdown timeout")
        }
        children.removeAll()
        phase = .stopping
        await finishStop()
    }

    /// Tells everyone this actor watches that it no longer does (it restarts or stops).
    private func dropWatches() {
        for watched in watching.values { watched.sendSystem(.unwatch(mailbox.id)) }
        watching.removeAll()
    }

    private func beginRestart(reason: String, delay: Duration) async {
        guard phase != .stopping, phase != .terminated, phase != .restarting else { return }
        phase = .restarting
        pendingRestart = (reason, delay)
        cancelPlan()
        pendingEscalation = nil
        context.startedTimers?.cancelAll()
        dropPendingRetry("actor restarted during the message's retry backoff")
        await stopNextChild()
    }

    /// Children are gone: run preRestart on the old instance, then start a fresh one after the backoff.
    private func continueRestart() async {
        guard let (reason, delay) = pendingRestart else { return }
        pendingRestart = nil
        if let old = behavior {
            await old.preRestart(reason: lastFailure ?? RestartRequest(reason: reason), context: context)
        }
        behavior = nil
        if suspending {                                          // the parent's plan starts it again
            suspending = false
            awaitingResume = true
            parent?.sendSystem(.childSuspended(mailbox.id))
            return
        }
        if delay > .zero {
            restartGeneration &+= 1
            let generation = restartGeneration
            let mailbox = self.mailbox
            // The shared timer thread, not a sleeping task: a stop meanwhile makes the generation stale.
            _ = DeadlineTimer.shared.schedule(after: delay) {
                mailbox.sendSystem(.restartNow(generation: generation, reason: reason, delay: delay))
            }
        } else {
            await startInstance(restartReason: reason, delay: .zero)
        }
    }

    @inline(never)
    private func beginStop() async {
        stopSelfRequested = false
        guard phase != .stopping, phase != .terminated else { return }
        if parent == nil, let escalation = pendingEscalation { system.rootFailed(escalation) }   // not lost to the stop
        phase = .stopping
        pendingRestart = nil
        suspending = false
        awaitingResume = false
        cancelPlan()
        pendingEscalation = nil
        context.startedTimers?.cancelAll()
        dropPendingRetry("recipient stopped")
        await stopNextChild()
    }

    /// Children are gone: postStop, close the mailbox, dead-letter what is left, tell watchers and parent.
    private func finishStop() async {
        guard phase != .terminated else { return }
        if let behavior { await behavior.postStop(context: context) }
        behavior = nil
        phase = .terminated
        dropPendingRetry("recipient stopped")
        dropWatches()
        let (leftUser, leftSystem) = mailbox.close()
        let reason = mailbox.givenUp.load(ordering: .relaxed) ? "recipient did not stop within its shutdown timeout" : "recipient stopped"
        for case let message? in batch[cursor...] { deadLetter(message, reason: reason, attempts: 0) }
        for message in leftUser { deadLetter(message, reason: reason, attempts: 0) }
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

/// The reason handed to ``ActorBehavior/preRestart(reason:context:)`` when a permanent actor stopped itself
/// (`context.stop()`) and its supervisor restarts it, as OTP restarts a permanent child that exited normally.
public struct ExitedNormally: Error, CustomStringConvertible {
    public var description: String { "stopped itself (a permanent actor is restarted)" }
}

/// The reason handed to ``ActorBehavior/preRestart(reason:context:)`` when the actor did not fail
/// itself but is restarted with a failed sibling.
public struct RestartRequest: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
