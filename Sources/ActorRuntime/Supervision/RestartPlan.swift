/// A one-for-all or rest-for-one restart under way, in OTP's order: the affected children are taken down one
/// at a time, the last started first; after the backoff they start again one at a time in start order, each
/// once the one before it runs. A temporary child among them is stopped for good instead of restarted.
///
/// A failure during the plan (a child whose restart fails, another child crashing) does not start a second
/// plan beside it: the plan is merged (``merge(_:delay:order:)``) and begins again from taking down, so the order
/// holds whatever happens meanwhile. A class: a cell not restarting children keeps only a nil reference, and
/// the cell's steps change the one plan in place.
final class RestartPlan {
    struct Member {
        let id: ActorID
        let temporary: Bool
        let reason: String
    }

    enum Step {
        /// Waiting for `members[index]` to be taken down (suspended, or stopped if temporary).
        case takingDown(index: Int, timer: DeadlineTimer.Token)
        case backoff(generation: UInt64, timer: DeadlineTimer.Token)
        /// Waiting for `members[index]` to run again.
        case starting(index: Int)
    }

    /// The affected children, in start order.
    private(set) var members: [Member]
    private(set) var delay: Duration
    var step: Step?
    /// Which shutdown-timeout message answers the current take-down (an earlier round's may still come).
    var takeDownTimer: UInt64 = 0

    init(members: [Member], delay: Duration) {
        self.members = members
        self.delay = delay
    }

    /// Adds the members of another failure's plan, keeping start order (`order` is the children's ids in start
    /// order), and goes back to taking down: a child already started again is taken down again.
    func merge(_ other: [Member], delay: Duration, order: [ActorID]) {
        var byID: [ActorID: Member] = [:]
        for m in members { byID[m.id] = m }
        for m in other { byID[m.id] = m }          // the newer failure's reason
        members = order.compactMap { byID[$0] }
        self.delay = max(self.delay, delay)
        step = nil
    }

    /// Drops a member that is gone (stopped or given up on); returns whether it was the one the step waits for.
    func remove(_ id: ActorID) -> Bool {
        guard let index = members.firstIndex(where: { $0.id == id }) else { return false }
        members.remove(at: index)
        switch step {
        case .takingDown(let i, let timer):
            if i == index { return true }
            // Members below the one being taken down are still up: shift the index when one of them leaves.
            if index < i { step = .takingDown(index: i - 1, timer: timer) }
        case .starting(let i):
            if i == index { return true }
            if index < i { step = .starting(index: i - 1) }
        case .backoff, nil:
            break
        }
        return false
    }

    /// The id the current step waits for.
    var awaited: ActorID? {
        switch step {
        case .takingDown(let i, _), .starting(let i): members[i].id
        case .backoff, nil: nil
        }
    }
}
