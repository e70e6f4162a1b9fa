import DequeModule
import Synchronization

/// A bounded multi-producer, single-consumer mailbox.
///
/// Producers append under a short lock; when the user queue is at capacity they suspend (backpressure)
/// and are admitted in arrival order as the consumer frees room, so one sender's messages stay in order.
/// Waiting cannot deadlock: the actor's own handler is admitted beyond capacity (it is the only reader),
/// another actor's handler waits at most the push timeout and then dead-letters the message (a cycle of
/// actors telling each other), and a waiting sender's task can be cancelled.
/// The consumer takes the whole queue at once by swapping arrays, so in steady state no message costs an
/// allocation and the consumer pays one lock per batch. System messages have their own queue, go first,
/// and are never refused by capacity.
@usableFromInline
final class Mailbox<Message: Sendable>: SystemMessageTarget, Sendable {
    @usableFromInline
    struct Waiter: Sendable {
        @usableFromInline var id: UInt64
        @usableFromInline var message: Message
        @usableFromInline var continuation: UnsafeContinuation<Admission, Never>
    }

    /// How to wake the cell: a view without reference counting (the state keeps both alive), so that
    /// waking a cell touches no shared reference count.
    @usableFromInline
    struct Runner: Sendable {
        @usableFromInline let dispatcher: Unmanaged<Dispatcher>
        @usableFromInline let cell: Unmanaged<Runnable>
        /// `_withUnsafeGuaranteedRef`: the call neither retains nor releases the dispatcher, whose
        /// reference count every core would otherwise write on every wake-up.
        @inlinable
        func wake() {
            dispatcher._withUnsafeGuaranteedRef { d in cell._withUnsafeGuaranteedRef { d.schedule($0) } }
        }
    }

    @usableFromInline
    struct State: ~Copyable {
        /// Optional so that the consumer can move each message out (`take()`) instead of copying it.
        @usableFromInline var user: [Message?] = []
        /// Messages taken by the consumer and not yet all handled; they count against capacity.
        @usableFromInline var inFlight = 0
        @usableFromInline var system: [SystemMessage] = []
        @usableFromInline var blocked = Deque<Waiter>()
        /// The cell is not scheduled: the next message (a user one only if `idleWantsUser`) schedules it.
        @usableFromInline var idle = false
        @usableFromInline var idleWantsUser = false
        @usableFromInline var closed = false
        /// Who runs the cell, and the cell; cleared on close (the two refer to each other).
        @usableFromInline var owners: (Dispatcher, Runnable)?
        @usableFromInline var runner: Runner?
        init() {}
    }

    @usableFromInline let id: ActorID
    @usableFromInline let path: ActorPath
    @usableFromInline let capacity: Int
    /// How long another actor's handler may wait for room before its message is dead-lettered.
    let pushTimeout: Duration?
    @usableFromInline let state: Mutex<State>
    @usableFromInline let systemPending = Atomic<Int>(0)
    /// Set when the parent gave up waiting for this actor to stop (``forceClose(reason:)``).
    @usableFromInline let givenUp = Atomic<Bool>(false)
    private let waiterIDs = Atomic<UInt64>(0)
    let deadLetters: DeadLetterOffice

    @usableFromInline
    init(id: ActorID, path: ActorPath, capacity: Int, pushTimeout: Duration? = nil, deadLetters: DeadLetterOffice) {
        precondition(capacity > 0, "mailbox capacity must be positive")
        self.id = id
        self.path = path
        self.capacity = capacity
        self.pushTimeout = pushTimeout
        self.deadLetters = deadLetters
        self.state = Mutex(State())      // no storage reserved: an idle actor holds none (the queue grows on use)
    }

    /// Connects the mailbox to its cell and the dispatcher that runs it.
    @usableFromInline
    func attach(cell: Runnable, dispatcher: Dispatcher) {
        state.withLock {
            $0.owners = (dispatcher, cell)
            $0.runner = Runner(dispatcher: .passUnretained(dispatcher), cell: .passUnretained(cell))
        }
    }

    // MARK: producers

    /// Enqueues without waiting; a message that was not enqueued is handed back.
    @inlinable
    func tryEnqueue(_ message: consuming Message) -> (EnqueueResult, Message?) {
        var pending: Message? = consume message
        var wake: Runner?
        let result = state.withLock { s -> EnqueueResult in
            if s.closed { return .closed }
            guard s.blocked.isEmpty, s.user.count + s.inFlight < capacity else { return .full }
            s.user.append(pending.take())                  // moved, not copied
            if s.idle, s.idleWantsUser { s.idle = false; wake = s.runner }
            return .enqueued
        }
        wake?.wake()
        return (result, pending)
    }

    /// Enqueues without waiting; to a stopped actor, the message becomes a dead letter.
    @inlinable
    func offer(_ message: consuming Message) -> EnqueueResult {
        let (result, rest) = tryEnqueue(message)
        if result == .closed, let rest { deadLetterStopped(rest) }
        return result
    }

    /// What became of a message a sender waited to enqueue.
    @usableFromInline
    enum Admission: Sendable, Equatable {
        case admitted
        /// The actor has stopped.
        case closed
        /// No room came before the deadline.
        case timedOut
        /// The sender's task was cancelled while it waited.
        case cancelled
    }

    /// Enqueues, suspending while the mailbox is full. Returns false when the message was not admitted: the
    /// actor has stopped, the push timeout passed (a sender that is another actor's handler), or the
    /// sender's task was cancelled; the message is then a dead letter with the reason. Inlined: the common
    /// case is a plain call with no async frame.
    @inlinable
    func send(_ message: consuming Message) async -> Bool {
        let (result, rest) = tryEnqueue(message)
        guard let message = rest else { return true }
        let admission = await sendRefused(message, result, deadline: nil)
        if admission != .admitted { deadLetterRefused(message, admission) }
        return admission == .admitted
    }

    /// Enqueues, waiting for room until `deadline` at the latest (an ask). Only a stopped actor's
    /// message becomes a dead letter; the caller answers for the others.
    func send(_ message: consuming Message, deadline: ContinuousClock.Instant) async -> Admission {
        let (result, rest) = tryEnqueue(message)
        guard let message = rest else { return .admitted }
        let admission = await sendRefused(message, result, deadline: deadline)
        if admission == .closed { deadLetterRefused(message, admission) }
        return admission
    }

    /// The mailbox was full or closed: admit a send from the actor's own handler, or wait for room.
    @inline(never) @usableFromInline
    func sendRefused(_ message: Message, _ result: EnqueueResult, deadline: ContinuousClock.Instant?) async -> Admission {
        if result == .closed { return .closed }
        // This actor's own handler: nobody else would ever make room.
        if let cell = state.withLock({ $0.owners?.1 }), Dispatcher.currentTaskRuns(cell) {
            return admitBeyondCapacity(message) ? .admitted : .closed
        }
        var deadline = deadline
        if deadline == nil, let pushTimeout, Dispatcher.currentTaskIsWorker() { deadline = .now + pushTimeout }
        Dispatcher.workerWillBlock()
        let id = waiterIDs.add(1, ordering: .relaxed).newValue
        var timer: DeadlineTimer.Token?
        let admission = await withTaskCancellationHandler {
            await withUnsafeContinuation { (c: UnsafeContinuation<Admission, Never>) in
                var wake: Runner?
                let outcome = state.withLock { s -> Admission? in
                    if s.closed { return .closed }
                    if Task.isCancelled { return .cancelled }      // cancelled before we were listed
                    var admittedNow: Admission?
                    if s.blocked.isEmpty, s.user.count + s.inFlight < capacity {
                        s.user.append(message)
                        admittedNow = .admitted
                    } else {
                        s.blocked.append(Waiter(id: id, message: message, continuation: c))
                    }
                    if s.idle, s.idleWantsUser { s.idle = false; wake = s.runner }
                    return admittedNow
                }
                wake?.wake()
                if let outcome {
                    c.resume(returning: outcome)
                } else if let deadline {
                    // Listed first, so the timer always finds the waiter (or finds it already admitted).
                    timer = DeadlineTimer.shared.schedule(at: deadline) { [self] in withdraw(id, .timedOut) }
                }
            }
        } onCancel: {
            withdraw(id, .cancelled)
        }
        if let timer { DeadlineTimer.shared.cancel(timer) }
        return admission
    }

    /// Enqueues regardless of capacity a message the actor arranged to send itself: the answer of
    /// ``ActorContext/ask(_:timeout:_:map:)`` or ``ActorContext/pipeToSelf(_:map:)``, whose number its own
    /// handlers bound. To a stopped actor, the message becomes a dead letter.
    func deliverToSelf(_ message: Message) {
        if !admitBeyondCapacity(message) { deadLetterStopped(message) }
    }

    /// Enqueues regardless of capacity; false when the actor has stopped.
    private func admitBeyondCapacity(_ message: Message) -> Bool {
        var wake: Runner?
        let admitted = state.withLock { s -> Bool in
            if s.closed { return false }
            s.user.append(message)
            if s.idle, s.idleWantsUser { s.idle = false; wake = s.runner }
            return true
        }
        wake?.wake()
        return admitted
    }

    /// Takes a waiting sender off the list (its deadline passed, or its task was cancelled).
    private func withdraw(_ id: UInt64, _ reason: Admission) {
        let waiter = state.withLock { s -> UnsafeContinuation<Admission, Never>? in
            guard let i = s.blocked.firstIndex(where: { $0.id == id }) else { return nil }
            return s.blocked.remove(at: i).continuation
        }
        waiter?.resume(returning: reason)
    }

    /// A message that was not admitted.
    @usableFromInline
    func deadLetterRefused(_ message: Message, _ admission: Admission) {
        switch admission {
        case .admitted: return
        case .closed: deadLetterStopped(message)
        case .timedOut:
            deadLetters.publish(DeadLetter(recipient: path, message: message,
                                           reason: "mailbox full: not admitted within the push timeout (\(pushTimeout ?? .zero))"))
        case .cancelled:
            deadLetters.publish(DeadLetter(recipient: path, message: message, reason: "sender cancelled while the mailbox was full"))
        }
    }

    /// A message for an actor that has stopped.
    @usableFromInline
    func deadLetterStopped(_ message: Message) {
        deadLetters.publish(DeadLetter(recipient: path, message: message, reason: "recipient stopped"))
    }

    @usableFromInline @discardableResult
    func sendSystem(_ message: SystemMessage) -> Bool {
        var wake: Runner?
        let ok = state.withLock { s -> Bool in
            if s.closed { return false }
            s.system.append(message)
            systemPending.add(1, ordering: .releasing)
            if s.idle { s.idle = false; wake = s.runner }
            return true
        }
        wake?.wake()
        return ok
    }

    // MARK: consumer (the owning cell only)

    /// True when system messages wait; cheap enough to ask between user messages.
    @inlinable
    var hasSystemMessages: Bool { systemPending.load(ordering: .acquiring) > 0 }

    /// Moves pending work into the consumer's buffers. `batch` must be empty when `takeUser` is true;
    /// it is swapped with the queue, so both arrays keep their storage. Returns false when there was nothing.
    /// With `idleIfEmpty`, finding nothing also marks the cell idle in the same critical section:
    /// the next message (a user one only if `takeUser`) schedules it again; the caller stops running it.
    @inlinable
    func take(takeUser: Bool, idleIfEmpty: Bool = false, batch: inout [Message?], system: inout [SystemMessage],
              wentIdle: inout Bool) -> Bool {
        var admitted: [UnsafeContinuation<Admission, Never>] = []
        let found = state.withLock { s -> Bool in
            var found = false
            if !s.system.isEmpty {
                swap(&s.system, &system)
                systemPending.subtract(system.count, ordering: .relaxed)
                found = true
            }
            if takeUser {
                s.inFlight = 0
                if !s.user.isEmpty {
                    swap(&s.user, &batch)
                    s.inFlight = batch.count
                    found = true
                }
                while !s.blocked.isEmpty, s.user.count + s.inFlight < capacity {
                    let w = s.blocked.removeFirst()
                    s.user.append(w.message)
                    admitted.append(w.continuation)
                }
                if !found, !s.user.isEmpty {
                    swap(&s.user, &batch)
                    s.inFlight = batch.count
                    found = true
                }
            }
            if !found, idleIfEmpty, !s.closed, s.system.isEmpty, !(takeUser && !s.blocked.isEmpty) {
                s.idle = true
                s.idleWantsUser = takeUser
                wentIdle = true
            }
            return found
        }
        for c in admitted { c.resume(returning: .admitted) }
        return found
    }

    /// Closes the mailbox for good; returns what was still queued. Blocked senders are released and
    /// dead-letter their own messages. Called by the cell itself as it stops (it drops the references
    /// between mailbox and cell).
    func close() -> (user: [Message], system: [SystemMessage]) {
        drain(keepingOwners: false).queued
    }

    /// Closes the mailbox of an actor whose parent gave up waiting for it to stop: what is queued becomes
    /// dead letters with `reason`, queued watch requests are answered. The cell is told (``givenUp``, and a
    /// pending system message so that it leaves its batch) and, if idle, scheduled; if its handler runs now,
    /// that handler's task is cancelled (``Dispatcher/cancelHandler(of:)``). It runs its own stop when its
    /// handler returns. The references between mailbox and cell stay until then, since a sender may be
    /// waking the cell through them right now.
    @usableFromInline
    func forceClose(reason: String) {
        givenUp.store(true, ordering: .relaxed)
        systemPending.add(1, ordering: .releasing)
        let (queued, wake) = drain(keepingOwners: true)
        for message in queued.user { deadLetters.publish(DeadLetter(recipient: path, message: message, reason: reason)) }
        for case .watch(let watcher) in queued.system { watcher.sendSystem(.terminated(path, id)) }
        if let (dispatcher, cell) = wake {
            dispatcher.schedule(cell)
        } else if let (dispatcher, cell) = state.withLock({ $0.owners }) {
            dispatcher.cancelHandler(of: cell)                 // running: its handler is cancelled
        }
    }

    /// Closes and empties the mailbox in one critical section; an idle cell is taken off idle (and returned,
    /// to be scheduled) when the owners are kept.
    private func drain(keepingOwners: Bool) -> (queued: (user: [Message], system: [SystemMessage]), wake: (Dispatcher, Runnable)?) {
        let (user, system, blocked, wake) = state.withLock { s -> ([Message?], [SystemMessage], Deque<Waiter>, (Dispatcher, Runnable)?) in
            var wake: (Dispatcher, Runnable)?
            if keepingOwners {
                if s.idle, !s.closed { s.idle = false; wake = s.owners }
            } else {
                s.runner = nil
                s.owners = nil
            }
            s.closed = true
            let out = (s.user, s.system, s.blocked)
            s.user = []
            s.system = []
            s.blocked = []
            s.inFlight = 0
            return (out.0, out.1, out.2, wake)
        }
        for w in blocked { w.continuation.resume(returning: .closed) }
        return ((user.compactMap { $0 }, system), wake)
    }

    @usableFromInline
    var hasStopped: Bool { state.withLock { $0.closed } }

    /// Messages queued now, including those the consumer holds (for metrics and tests).
    var depth: Int { state.withLock { $0.user.count + $0.inFlight + $0.blocked.count } }
}
