import DequeModule
import Synchronization

/// A bounded multi-producer, single-consumer mailbox.
///
/// Producers append under a short lock; when the user queue is at capacity they suspend (backpressure)
/// and are admitted in arrival order as the consumer frees room, so one sender's messages stay in order.
/// The consumer takes the whole queue at once by swapping arrays, so in steady state no message costs an
/// allocation and the consumer pays one lock per batch. System messages have their own queue, go first,
/// and are never refused by capacity.
final class Mailbox<Message: Sendable>: SystemMessageTarget, Sendable {
    struct Waiter {
        var message: Message
        var continuation: UnsafeContinuation<Bool, Never>
    }

    /// How to wake the cell: a view without reference counting (the state keeps both alive), so that
    /// waking a cell touches no shared reference count.
    struct Runner {
        let dispatcher: Unmanaged<Dispatcher>
        let cell: Unmanaged<Runnable>
        /// `_withUnsafeGuaranteedRef`: the call neither retains nor releases the dispatcher, whose
        /// reference count every core would otherwise write on every wake-up.
        func wake() {
            dispatcher._withUnsafeGuaranteedRef { d in cell._withUnsafeGuaranteedRef { d.schedule($0) } }
        }
    }

    struct State: ~Copyable {
        /// Optional so that the consumer can move each message out (`take()`) instead of copying it.
        var user: [Message?] = []
        /// Messages taken by the consumer and not yet all handled; they count against capacity.
        var inFlight = 0
        var system: [SystemMessage] = []
        var blocked = Deque<Waiter>()
        /// The cell is not scheduled: the next message (a user one only if `idleWantsUser`) schedules it.
        var idle = false
        var idleWantsUser = false
        var closed = false
        /// Who runs the cell, and the cell; cleared on close (the two refer to each other).
        var owners: (Dispatcher, Runnable)?
        var runner: Runner?
    }

    let id: ActorID
    let path: ActorPath
    let capacity: Int
    private let state: Mutex<State>
    private let systemPending = Atomic<Int>(0)
    let deadLetters: DeadLetterOffice

    init(id: ActorID, path: ActorPath, capacity: Int, deadLetters: DeadLetterOffice) {
        precondition(capacity > 0, "mailbox capacity must be positive")
        self.id = id
        self.path = path
        self.capacity = capacity
        self.deadLetters = deadLetters
        var s = State()
        s.user.reserveCapacity(min(capacity, 1024))
        self.state = Mutex(s)
    }

    /// Connects the mailbox to its cell and the dispatcher that runs it.
    func attach(cell: Runnable, dispatcher: Dispatcher) {
        state.withLock {
            $0.owners = (dispatcher, cell)
            $0.runner = Runner(dispatcher: .passUnretained(dispatcher), cell: .passUnretained(cell))
        }
    }

    // MARK: producers

    /// Enqueues without waiting; a message that was not enqueued is handed back.
    private func tryEnqueue(_ message: consuming Message) -> (EnqueueResult, Message?) {
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
    func offer(_ message: consuming Message) -> EnqueueResult {
        let (result, rest) = tryEnqueue(message)
        if result == .closed, let rest { deadLetterStopped(rest) }
        return result
    }

    /// Enqueues, suspending while the mailbox is full. Returns false (and dead-letters the message)
    /// when the actor has stopped. Inlined: the common case is a plain call with no async frame.
    @inline(__always)
    func send(_ message: consuming Message) async -> Bool {
        let (result, rest) = tryEnqueue(message)
        guard let message = rest else { return true }
        return await sendRefused(message, result)
    }

    /// The mailbox was full or closed: dead-letter, or wait for room.
    @inline(never)
    private func sendRefused(_ message: Message, _ result: EnqueueResult) async -> Bool {
        if result == .closed {
            deadLetterStopped(message)
            return false
        }
        Dispatcher.workerWillBlock()
        let admitted: Bool = await withUnsafeContinuation { (c: UnsafeContinuation<Bool, Never>) in
            var wake: Runner?
            let outcome = state.withLock { s -> Bool? in
                if s.closed { return false }
                var admittedNow: Bool?
                if s.blocked.isEmpty, s.user.count + s.inFlight < capacity {
                    s.user.append(message)
                    admittedNow = true
                } else {
                    s.blocked.append(Waiter(message: message, continuation: c))
                }
                if s.idle, s.idleWantsUser { s.idle = false; wake = s.runner }
                return admittedNow
            }
            wake?.wake()
            if let outcome { c.resume(returning: outcome) }
        }
        if !admitted { deadLetterStopped(message) }
        return admitted
    }

    /// A message for an actor that has stopped.
    private func deadLetterStopped(_ message: Message) {
        deadLetters.publish(DeadLetter(recipient: path, message: message, reason: "recipient stopped"))
    }

    @discardableResult
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
    var hasSystemMessages: Bool { systemPending.load(ordering: .acquiring) > 0 }

    /// Moves pending work into the consumer's buffers. `batch` must be empty when `takeUser` is true;
    /// it is swapped with the queue, so both arrays keep their storage. Returns false when there was nothing.
    /// With `idleIfEmpty`, finding nothing also marks the cell idle in the same critical section:
    /// the next message (a user one only if `takeUser`) schedules it again; the caller stops running it.
    func take(takeUser: Bool, idleIfEmpty: Bool = false, batch: inout [Message?], system: inout [SystemMessage]) -> Bool {
        var admitted: [UnsafeContinuation<Bool, Never>] = []
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
            }
            return found
        }
        for c in admitted { c.resume(returning: true) }
        return found
    }

    /// Closes the mailbox for good; returns what was still queued. Blocked senders are released and
    /// dead-letter their own messages.
    func close() -> (user: [Message], system: [SystemMessage]) {
        let (user, system, blocked) = state.withLock { s -> ([Message?], [SystemMessage], Deque<Waiter>) in
            s.closed = true
            s.runner = nil
            s.owners = nil
            let out = (s.user, s.system, s.blocked)
            s.user = []
            s.system = []
            s.blocked = []
            s.inFlight = 0
            return out
        }
        for w in blocked { w.continuation.resume(returning: false) }
        return (user.compactMap { $0 }, system)
    }

    /// Messages queued now, including those the consumer holds (for metrics and tests).
    var depth: Int { state.withLock { $0.user.count + $0.inFlight + $0.blocked.count } }
}
