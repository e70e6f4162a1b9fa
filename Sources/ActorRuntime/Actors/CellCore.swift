/// The non-generic half of an actor cell: its place in the tree, its children, its watchers.
/// Confined to the cell's run loop, like the behaviour it hosts.
@usableFromInline
class CellCore {
    @usableFromInline
    enum Phase: Equatable {
        case starting
        case running
        /// Crashed; waits for the supervisor's decision, handling only system messages.
        case failed
        /// Restart decided; waits for children to stop, then for the backoff to pass.
        case restarting
        /// Stop decided; waits for children to stop.
        case stopping
        case terminated
    }

    @usableFromInline let system: ActorSystem
    let parent: (any SystemMessageTarget)?
    let strategy: SupervisorStrategy
    var window: RestartWindow
    @usableFromInline @exclusivity(unchecked) var phase: Phase = .starting
    @usableFromInline var children: [ChildRecord] = []
    var watchers: [ActorID: any SystemMessageTarget] = [:]
    /// Whom this actor watches: told `unwatch` when it restarts or stops, so no watcher outlives its watch.
    var watching: [ActorID: any SystemMessageTarget] = [:]
    @usableFromInline @exclusivity(unchecked) var stopSelfRequested = false
    private var generatedNames = 0

    @usableFromInline var selfHandle: any SystemMessageTarget { fatalError("subclass") }
    var path: ActorPath { selfHandle.path }

    init(system: ActorSystem, parent: (any SystemMessageTarget)?, strategy: SupervisorStrategy) {
        self.system = system
        self.parent = parent
        self.strategy = strategy
        self.window = RestartWindow(strategy.intensity)
    }

    /// Inlinable: a client module specialises the child's cell for its behaviour.
    @inlinable
    func spawnChild<C: ActorBehavior>(_ props: Props<C>, name: String?) throws(ActorSystemError) -> ActorRef<C.Message> {
        let childPath = try reserveChildPath(name, significantPermanent: props.significant && props.restart == .permanent)
        let mailbox = system.startCell(props, path: childPath, parent: selfHandle)
        children.append(ChildRecord(handle: mailbox, props: props))
        return ActorRef(mailbox)
    }

    /// The checks of ``spawnChild(_:name:)``: running, a valid and free name (generated when nil).
    @usableFromInline
    func reserveChildPath(_ name: String?, significantPermanent: Bool) throws(ActorSystemError) -> ActorPath {
        guard phase == .running || phase == .starting else { throw .notRunning(path) }
        let childName: String
        if let name {
            guard ActorPath.isValidName(name) else { throw .invalidName(name) }
            childName = name
        } else {
            generatedNames += 1
            childName = "$\(generatedNames)"
        }
        let childPath = path.appending(childName)
        guard !children.contains(where: { $0.path == childPath }) else { throw .duplicateName(childPath) }
        guard !significantPermanent else { throw .permanentSignificant(childPath) }
        return childPath
    }
}
