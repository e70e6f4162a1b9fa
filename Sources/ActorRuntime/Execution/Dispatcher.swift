import CTaskIdentity
import DequeModule
import Foundation
import Synchronization

/// What a ``Dispatcher`` runs: one cell's slice of work, as a closure made where the cell's behaviour
/// type is known, so the message path it calls is specialised for that behaviour.
@usableFromInline
final class Runnable: Sendable {
    /// Handles a slice of work. Returns true when more is waiting (run me again), false when the cell
    /// went idle or stopped (its mailbox will schedule it again when work arrives).
    let runSlice: nonisolated(nonsending) @Sendable () async -> Bool

    @usableFromInline
    init(_ runSlice: nonisolated(nonsending) @escaping @Sendable () async -> Bool) { self.runSlice = runSlice }
}

/// Runs actor cells on a few worker tasks, one per core: a cell with work is queued, and a worker
/// drains a slice of its mailbox inline. While handlers do not truly suspend, a message costs a queue
/// push and a function call, not a task wake-up (Akka's dispatcher, Erlang's and Go's schedulers).
///
/// Each worker has its own run queue. A cell woken by a handler goes to the front of that worker's
/// queue, so the receiver runs next on the same core with the message still in cache (bounded, so a
/// busy pair cannot starve the rest); idle workers steal from the back of others' queues.
///
/// A handler that truly suspends (a full mailbox, an ask, I/O) holds its worker until it resumes. So
/// that this can never starve queued cells, a monitor thread adds a worker whenever cells are queued
/// and no slice has finished for a millisecond (Go's sysmon); workers beyond the core count retire
/// when they find nothing to do.
public final class Dispatcher: Sendable {
    /// The process-wide dispatcher, one worker per core.
    public static let shared = Dispatcher(workers: ProcessInfo.processInfo.activeProcessorCount)

    /// One worker's run queue; others steal from its back.
    final class WorkerQueue: Sendable {
        /// The cell woken last by this worker's handlers, run next (Go's `runnext`): handing a cell
        /// from one actor to the next costs one atomic exchange, not a lock and a deque operation.
        /// Holds a +1 reference. Idle workers may take it when the deque is empty.
        let next = Atomic<Unmanaged<Runnable>?>(nil)
        let cells = Mutex(Deque<Runnable>())
        /// Cells queued here (deque and `next`); per worker, so the hot path never writes a cache line
        /// another core uses.
        let count = Atomic<Int>(0)
        /// Slices this queue's workers finished (the monitor's sign of progress); written by its worker only.
        let slices = Atomic<UInt64>(0)
        /// The cell this worker runs now (its `Runnable`'s address), 0 between slices. With `slices`
        /// unchanged for a monitor tick, its handler is stuck (awaiting), not merely waiting for a thread;
        /// and a full mailbox admits its own cell's sends (``Dispatcher/currentTaskRuns(_:)``). Its low bit
        /// (addresses are aligned) marks a slice whose handler was cancelled (``cancelHandler(of:)``).
        let running = Atomic<UInt>(0)
        /// The task of the worker polling this queue, to cancel a handler that would not stop.
        let task = Mutex<Task<Void, Never>?>(nil)
        /// Slices run in a row from the front; past ``maxStreak`` the worker takes the oldest instead.
        @exclusivity(unchecked) nonisolated(unsafe) var streak = 0
        /// Slices this worker looked for; every ``injectionInterval``-th look starts at the injection queue.
        @exclusivity(unchecked) nonisolated(unsafe) var looksLeft: UInt32 = Dispatcher.injectionInterval
        /// The task of the worker that polls this queue (``Dispatcher/taskIdentity``), 0 while none does.
        /// Only that task pushes here: a task that merely inherited ``currentQueue`` (one started in a
        /// handler) sees another identity and takes the injection queue instead.
        let owner = Atomic<UInt>(0)
        unowned(unsafe) let dispatcher: Dispatcher       // dispatchers outlive their workers
        init(_ dispatcher: Dispatcher) { self.dispatcher = dispatcher }

        /// This queue, when the current task is the worker polling it.
        @inline(__always)
        func ownedByCurrentTask() -> Bool { owner.load(ordering: .relaxed) == Dispatcher.taskIdentity() }
    }

    /// The queue of the worker whose task this is, or whose task started this one: task-locals are copied
    /// into tasks started with `Task {}`, so only ``WorkerQueue/ownedByCurrentTask()`` says it is ours.
    /// Unretained, so reading it costs no reference counting: queues are never freed (a retiring worker's
    /// queue is kept for the next worker), so a copy that outlives its worker still points to a queue.
    @TaskLocal static var currentQueue: Unmanaged<WorkerQueue>?

    /// The current task's address, 0 outside a task. Two tasks alive at once never share it. Read with the
    /// runtime's own entry point (`swift_task_getCurrent`, through CTaskIdentity), which hands the pointer
    /// out unretained: `withUnsafeCurrentTask` retains and releases the task on every call, a tenth of a
    /// ping-pong message's cost.
    @inline(__always)
    static func taskIdentity() -> UInt { UInt(troupe_current_task_identity()) }

    static let maxStreak = 16
    /// Work queued from outside the workers (HTTP handlers, timers, restarts) is taken at least every this
    /// many slices, even while local work keeps every worker busy (Go checks its global queue every 61 ticks).
    static let injectionInterval: UInt32 = 61
    /// Slices a worker runs before it yields its thread of the cooperative pool to other tasks.
    static let yieldInterval = 4096

    private struct Shared {
        var injected = Deque<Runnable>()
        var queues: [WorkerQueue] = []
        /// Queues of retired workers, empty, for the next worker (never freed: see ``currentQueue``).
        var spare: [WorkerQueue] = []
        var idle: [UnsafeContinuation<Runnable?, Never>] = []
        var workers = 0
        /// Set by ``shutdown()``: workers end when they find nothing to do, the monitor ends.
        var shutDown = false
        var monitorRunning = true
        /// Who waits in ``shutdown()`` for the last worker and the monitor to end.
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let baseWorkers: Int
    /// At most this many workers, however many handlers are stuck (Go caps its threads at 10,000 too). A
    /// stuck worker is a suspended task, not a thread, so the bound is against a runaway, not a budget: a
    /// cap near the number of handlers that may wait at once (1,000 senders into one full mailbox) would
    /// leave no worker for the mailbox's own actor.
    private let maxWorkers = 10_000
    private let shared = Mutex(Shared())
    private let injectedCount = Atomic<Int>(0)
    private let idleCount = Atomic<Int>(0)
    private let monitorSignal = NSCondition()
    private let monitorAsleep = Atomic<Bool>(false)
    /// ``Shared/shutDown``, for the monitor to read without the lock.
    private let shuttingDown = Atomic<Bool>(false)

    /// A dispatcher's monitor thread and parked workers run until ``shutdown()`` (normally only ``shared``,
    /// which lives as long as the process).
    /// - Parameter workers: how many workers run when nothing blocks (usually the core count).
    public init(workers: Int) {
        baseWorkers = max(1, workers)
        let monitor = Thread { self.monitor() }
        monitor.name = "troupe.dispatcher.monitor"
        monitor.start()
    }

    /// How many workers run now: the base count, plus those added while handlers held theirs (they
    /// retire when they find nothing to do).
    public var workerCount: Int { shared.withLock { $0.workers } }

    /// Ends the dispatcher's monitor thread and its workers, once they have nothing to do, and returns when
    /// they have: for a dispatcher of one's own, after the actor systems it runs have shut down (a handler that
    /// never returns holds its worker, and this call with it; do not call it from a handler). Work scheduled
    /// later still runs (a worker starts for it and ends when done), so no message is lost, but nothing then
    /// makes up for handlers that hold their workers.
    public func shutdown() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let (idle, done) = shared.withLock { s -> ([UnsafeContinuation<Runnable?, Never>], [CheckedContinuation<Void, Never>]) in
                s.shutDown = true
                shuttingDown.store(true, ordering: .sequentiallyConsistent)
                s.shutdownWaiters.append(c)
                let idle = s.idle
                s.idle.removeAll()
                idleCount.store(0, ordering: .sequentiallyConsistent)
                return (idle, finishShutdownIfDone(&s))                   // already done (a second call)
            }
            for waiter in done { waiter.resume() }
            for worker in idle { worker.resume(returning: nil) }          // look once more, then end (park)
            signalMonitor()
        }
    }

    /// Whether the monitor thread still runs (false once ``shutdown()`` ended it).
    public var monitorIsRunning: Bool { shared.withLock { $0.monitorRunning } }

    /// Resumes ``shutdown()`` once no worker and no monitor is left. Called with the lock held.
    private func finishShutdownIfDone(_ s: inout Shared) -> [CheckedContinuation<Void, Never>] {
        guard s.shutDown, s.workers == 0, !s.monitorRunning else { return [] }
        defer { s.shutdownWaiters.removeAll() }
        return s.shutdownWaiters
    }

    /// Queues a cell that has work (called by its mailbox on the idle-to-busy edge).
    @usableFromInline
    func schedule(_ runnable: Runnable) {
        if let current = Self.currentQueue {
            let pushed = current._withUnsafeGuaranteedRef { local -> Bool in
                guard local.dispatcher === self, local.ownedByCurrentTask() else { return false }
                if let bumped = local.next.exchange(.passRetained(runnable), ordering: .acquiringAndReleasing) {
                    local.cells.withLock { $0.prepend(bumped.takeRetainedValue()) }
                }
                local.count.add(1, ordering: .sequentiallyConsistent)
                return true
            }
            if pushed {
                // Another worker may be idle while this one is busy: let it steal.
                if idleCount.load(ordering: .sequentiallyConsistent) > 0 { wakeIdle() }
                wakeMonitorIfAsleep()
                return
            }
        }
        var handoff: UnsafeContinuation<Runnable?, Never>?
        var spawn = false
        shared.withLock { s in
            if let worker = s.idle.popLast() {
                idleCount.subtract(1, ordering: .relaxed)
                handoff = worker
                return
            }
            s.injected.append(runnable)
            injectedCount.add(1, ordering: .sequentiallyConsistent)
            if s.workers < baseWorkers { s.workers += 1; spawn = true }
        }
        if let handoff { handoff.resume(returning: runnable) }
        if spawn { startWorker() }
        wakeMonitorIfAsleep()
    }

    /// Whether the current task is the worker running `cell` now: its handler (or a hook), so a send to its
    /// own full mailbox must not wait.
    static func currentTaskRuns(_ cell: Runnable) -> Bool {
        withOwnQueue { $0.running.load(ordering: .relaxed) == UInt(bitPattern: Unmanaged.passUnretained(cell).toOpaque()) } ?? false
    }

    /// Whether the current task is a worker (so, running a handler or a lifecycle hook of some actor).
    static func currentTaskIsWorker() -> Bool { withOwnQueue { _ in true } ?? false }

    /// Runs `body` on the queue of the worker the current task is; nil for any other task (one that only
    /// inherited ``currentQueue`` included).
    @inline(__always)
    private static func withOwnQueue<T>(_ body: (WorkerQueue) -> T) -> T? {
        guard let queue = currentQueue else { return nil }
        return queue._withUnsafeGuaranteedRef { $0.ownedByCurrentTask() ? body($0) : nil }
    }

    /// Called by the runtime just before a handler truly suspends (a full mailbox, an ask, a retry
    /// backoff): if cells are waiting, another worker takes over at once instead of after the monitor's
    /// millisecond. The surplus retires when it runs out of work.
    static func workerWillBlock() {
        withOwnQueue { $0.dispatcher.compensate() }           // a task started in a handler holds no worker
    }

    private func compensate() {
        guard totalQueued() > 0 else { return }
        if idleCount.load(ordering: .sequentiallyConsistent) > 0 { wakeIdle(); return }
        let add = shared.withLock { s -> Bool in
            guard s.workers < maxWorkers else { return false }
            s.workers += 1
            return true
        }
        if add { startWorker() }
    }

    private func wakeIdle() {
        let worker = shared.withLock { s -> UnsafeContinuation<Runnable?, Never>? in
            guard let w = s.idle.popLast() else { return nil }
            idleCount.subtract(1, ordering: .relaxed)
            return w
        }
        worker?.resume(returning: nil)              // nil: look for work (steal)
    }

    /// The monitor sleeps while nothing is queued; every push checks this flag (a plain load while it
    /// is awake), after publishing its count, so a push is never missed.
    private func wakeMonitorIfAsleep() {
        guard monitorAsleep.load(ordering: .sequentiallyConsistent) else { return }
        signalMonitor()
    }

    /// Wakes the monitor from its wait (it then looks at the queues and the shutdown flag).
    private func signalMonitor() {
        monitorSignal.lock()
        monitorAsleep.store(false, ordering: .sequentiallyConsistent)
        monitorSignal.signal()
        monitorSignal.unlock()
    }

    private func startWorker() {
        let queue = shared.withLock { s in
            let q = s.spare.popLast() ?? WorkerQueue(self)
            s.queues.append(q)
            return q
        }
        // The handle is stored before the worker runs a slice (its first step waits for this lock), so that
        // cancelHandler never reads a missing or stale handle for a marked slice.
        queue.task.withLock { slot in slot = Task.detached { [self] in
            queue.task.withLock { _ in }
            queue.owner.store(Self.taskIdentity(), ordering: .relaxed)
            let cancelled = await Self.$currentQueue.withValue(.passUnretained(queue)) { await work(queue) }
            retire(queue)
            // Its task stays cancelled, so the worker ends and a fresh one takes its place (same count).
            if cancelled { startWorker() }
            for waiter in shared.withLock({ finishShutdownIfDone(&$0) }) { waiter.resume() }
        } }
    }

    /// Cancels the task running `cell`'s handler now, if one does: for an actor that did not stop within its
    /// shutdown timeout, so that a handler awaiting something cancellable returns and the actor runs its
    /// stop. The worker ends after that slice (a task's cancellation cannot be undone) and is replaced; a
    /// slice that ends before the cancel is marked is left alone, so no other cell's handler is cancelled.
    func cancelHandler(of cell: Runnable) {
        let address = UInt(bitPattern: Unmanaged.passUnretained(cell).toOpaque())
        for queue in shared.withLock({ $0.queues }) where queue.running.load(ordering: .relaxed) == address {
            // Read before marking: a worker taking this queue after the mark is not the one to cancel.
            let task = queue.task.withLock { $0 }
            if queue.running.compareExchange(expected: address, desired: address | 1, ordering: .acquiringAndReleasing).exchanged {
                task?.cancel()
            }
            return
        }
    }

    /// The worker's task ends: its queue goes to the spare list. It is empty (a worker retires only when
    /// nothing is queued anywhere, and only it pushes to its queue); anything found is handed on anyway.
    private func retire(_ queue: WorkerQueue) {
        queue.owner.store(0, ordering: .relaxed)
        queue.task.withLock { $0 = nil }
        var leftovers: [Runnable] = []
        if let next = queue.next.exchange(nil, ordering: .acquiringAndReleasing) { leftovers.append(next.takeRetainedValue()) }
        leftovers += queue.cells.withLock { cells in
            defer { cells.removeAll() }
            return cells.isEmpty ? [] : Array(cells)     // (copying an empty deque writes to the shared empty array)
        }
        queue.count.subtract(leftovers.count, ordering: .sequentiallyConsistent)
        queue.streak = 0
        shared.withLock { s in
            s.queues.removeAll { $0 === queue }
            s.spare.append(queue)
        }
        for runnable in leftovers { schedule(runnable) }
    }

    /// Runs cells until the worker retires (false) or a handler it ran was cancelled (true).
    private func work(_ queue: WorkerQueue) async -> Bool {
        var sinceYield = 0
        var finished = queue.slices.load(ordering: .relaxed)       // only this worker writes it: no RMW per slice
        while true {
            // A worker that always finds work never suspends, and would hold its thread of Swift's cooperative
            // pool (one per core) for good, starving every other task of the process (HTTP handlers, timers,
            // other dispatchers' workers). So it lets them run now and then.
            sinceYield += 1
            if sinceYield >= Self.yieldInterval {
                sinceYield = 0
                await Task.yield()
            }
            var next = find(queue)
            if next == nil {
                switch await park() {
                case .retire: return false
                case .run(let r): next = r
                case .look: continue
                }
            }
            guard let runnable = next else { continue }
            queue.running.store(UInt(bitPattern: Unmanaged.passUnretained(runnable).toOpaque()), ordering: .relaxed)
            let more = await runnable.runSlice()
            finished &+= 1
            queue.slices.store(finished, ordering: .relaxed)
            // An exchange, not a store: a cancelHandler marking this slice either comes first (seen here)
            // or finds 0 and cancels nothing.
            let cancelled = queue.running.exchange(0, ordering: .acquiringAndReleasing) & 1 != 0
            if more {
                queue.cells.withLock { $0.append(runnable) }        // fairness: behind the others
                queue.count.add(1, ordering: .sequentiallyConsistent)
            }
            if cancelled { return true }
        }
    }

    /// Every 61st look the injection queue first; else own queue (`next`, then the front, or the oldest
    /// after a streak), then the injection queue, then steal.
    private func find(_ queue: WorkerQueue) -> Runnable? {
        queue.looksLeft -= 1
        if queue.looksLeft == 0 {
            queue.looksLeft = Self.injectionInterval
            if injectedCount.load(ordering: .relaxed) > 0, let injected = shared.withLock({ $0.injected.popFirst() }) {
                injectedCount.subtract(1, ordering: .relaxed)
                return injected
            }
        }
        if queue.streak >= Self.maxStreak {
            queue.streak = 0
            if let oldest = queue.cells.withLock({ $0.popLast() }) {
                queue.count.subtract(1, ordering: .relaxed)
                return oldest
            }
        }
        queue.streak += 1
        if let next = queue.next.exchange(nil, ordering: .acquiringAndReleasing) {
            queue.count.subtract(1, ordering: .relaxed)
            return next.takeRetainedValue()
        }
        if let own = queue.cells.withLock({ $0.popFirst() }) {
            queue.count.subtract(1, ordering: .relaxed)
            return own
        }
        queue.streak = 0
        let (injected, victims) = shared.withLock { s in (s.injected.popFirst(), s.queues) }
        if let injected { injectedCount.subtract(1, ordering: .relaxed); return injected }
        for victim in victims where victim !== queue && victim.count.load(ordering: .relaxed) > 0 {
            if let stolen = victim.cells.withLock({ $0.popLast() }) {
                victim.count.subtract(1, ordering: .relaxed)
                return stolen
            }
            if let stolen = victim.next.exchange(nil, ordering: .acquiringAndReleasing) {
                victim.count.subtract(1, ordering: .relaxed)
                return stolen.takeRetainedValue()
            }
        }
        return nil
    }

    /// Cells waiting in every queue.
    private func totalQueued() -> Int { queued(in: shared.withLock { $0.queues }) }

    /// Cells waiting in the injection queue and in `queues`.
    private func queued(in queues: [WorkerQueue]) -> Int {
        queues.reduce(injectedCount.load(ordering: .sequentiallyConsistent)) { $0 + $1.count.load(ordering: .sequentiallyConsistent) }
    }

    private enum ParkOutcome { case run(Runnable), look, retire }

    /// Sleeps until handed a cell or asked to look for work; retires a surplus worker instead.
    private func park() async -> ParkOutcome {
        enum Decision { case park, look, retire }
        var decision = Decision.park
        let handed: Runnable? = await withUnsafeContinuation { (c: UnsafeContinuation<Runnable?, Never>) in
            decision = shared.withLock { s -> Decision in
                if s.workers > baseWorkers || s.shutDown, queued(in: s.queues) == 0 {
                    s.workers -= 1
                    return .retire
                }
                // Register as idle before the last look, so a concurrent push either sees us idle
                // (and wakes us) or is seen here.
                s.idle.append(c)
                idleCount.add(1, ordering: .sequentiallyConsistent)
                if queued(in: s.queues) > 0 {
                    s.idle.removeLast()
                    idleCount.subtract(1, ordering: .sequentiallyConsistent)
                    return .look
                }
                return .park
            }
            if decision != .park { c.resume(returning: nil) }
        }
        switch decision {
        case .retire: return .retire
        case .look: return .look
        case .park: return handed.map(ParkOutcome.run) ?? .look
        }
    }

    /// Every millisecond while cells are queued: counts the workers whose handler is stuck (in a slice that
    /// has not finished since the last look) and adds a worker while fewer than the base count run (Go's
    /// sysmon hands a blocked thread's processor to another). A worker waiting for a thread (it yielded, or
    /// the OS preempted it between slices) is not stuck: adding workers would not help it.
    private func monitor() {
        var last: [ObjectIdentifier: UInt64] = [:]
        defer {
            for waiter in shared.withLock({ s -> [CheckedContinuation<Void, Never>] in
                s.monitorRunning = false
                return finishShutdownIfDone(&s)
            }) { waiter.resume() }
        }
        while !shuttingDown.load(ordering: .sequentiallyConsistent) {
            if totalQueued() == 0 {
                monitorSignal.lock()
                monitorAsleep.store(true, ordering: .sequentiallyConsistent)
                while monitorAsleep.load(ordering: .sequentiallyConsistent) && totalQueued() == 0
                        && !shuttingDown.load(ordering: .sequentiallyConsistent) {
                    monitorSignal.wait()
                }
                monitorAsleep.store(false, ordering: .sequentiallyConsistent)
                monitorSignal.unlock()
            }
            usleep(1000)
            var stuck = 0
            var seen: [ObjectIdentifier: UInt64] = [:]
            for queue in shared.withLock({ $0.queues }) {
                let slices = queue.slices.load(ordering: .relaxed)
                let id = ObjectIdentifier(queue)
                if queue.running.load(ordering: .relaxed) != 0, last[id] == slices { stuck += 1 }
                seen[id] = slices
            }
            last = seen
            guard totalQueued() > 0 else { continue }
            let add = shared.withLock { s -> Bool? in
                guard s.idle.isEmpty else { return nil }            // nil: cells wait while a worker is idle: wake it
                guard s.workers - stuck < baseWorkers, s.workers < maxWorkers else { return false }
                s.workers += 1
                return true
            }
            switch add {
            case true?: startWorker()
            case nil: wakeIdle()
            default: break
            }
        }
    }
}
