import ActorRuntime
import Bridges
import Foundation
import Logging
import UnixSignals

/// `troupe up`: every node of the topology as a child process (`troupe node NAME`), supervised like an
/// Erlang/OTP supervisor's permanent children. A child that exits abnormally (non-zero code, a signal)
/// is restarted after a backoff. A node restarted more than `maxRestarts` times within `within` has exceeded
/// its restart intensity; then, by the topology's `onNodeFailure`:
/// - `hold` (the default): that node alone is held, retried after a long backoff (`holdFor` doubling up to
///   `maxHold`), logged as an error each time, while every other node runs on; the status table is printed.
///   Back from a hold, the node has its whole restart intensity again (so messages that crash it keep reaching
///   their quarantine), and the hold doubles only if it is held again before it ran for `within`.
/// - `stopAll`: OTP's escalation: every node is stopped and `troupe up` exits 1.
/// SIGINT and SIGTERM are forwarded to the children (which shut down gracefully); one still running after
/// `stopTimeout` gets SIGKILL.
actor NodeSupervisor {
    struct Limits: Sendable {
        var maxRestarts: Int
        var within: Duration
        var backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(5))
        var onFailure: Topology.NodeFailure.Policy
        /// The delays of a held node: doubling from `initial` to `maximum`, from `initial` again once the node
        /// ran for `within`.
        var hold: Backoff
        /// Longer than a node's own shutdown limit (its watchdog ends it after 12 s, saying why).
        var stopTimeout: Duration = .seconds(15)

        /// The limits a topology sets.
        init(_ policy: Topology.NodeFailure = Topology.NodeFailure()) {
            maxRestarts = policy.maxRestarts
            within = policy.within
            onFailure = policy.policy
            hold = Backoff(initial: policy.holdFor, maximum: policy.maxHold)
        }
    }

    /// A child process: a node (`troupe node NAME`) or the vendor simulator.
    struct Child: Sendable {
        let name: String
        let executable: String
        let arguments: [String]
        var environment: [String: String] = [:]
    }

    /// What a child is doing, for the status table.
    enum State: Sendable {
        case running(pid: pid_t), restarting(after: Duration), held(until: Date, restarts: Int), exited(String), stopped
    }

    private let children: [Child]
    private let limits: Limits
    private let logger = Logger(label: "troupe.up")
    private var running: [String: ChildProcess] = [:]
    private var states: [String: State] = [:]
    private var stopping = false
    private var gaveUp = false

    init(children: [Child], limits: Limits = Limits()) {
        self.children = children
        self.limits = limits
    }

    /// `troupe node NAME` for each of `nodes`, with the topology at `topologyPath`.
    static func nodes(_ nodes: [String], topologyPath: String) -> [Child] {
        nodes.map { Child(name: $0, executable: ChildProcess.selfPath, arguments: ["node", $0, "--topology", topologyPath]) }
    }

    /// Runs the nodes until a signal stops them (or, with `stopAll`, one restarts too often); returns the exit code.
    func run() async -> Int32 {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let listener = Task {
            for await signal in signals {
                self.stop(because: "\(signal) received")
                return
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for child in children { group.addTask { await self.supervise(child) } }
        }
        listener.cancel()
        logger.info("every node stopped")
        return gaveUp ? 1 : 0
    }

    private func supervise(_ spec: Child) async {
        let node = spec.name
        var backoff = limits.backoff, holds = limits.hold
        var restarts: [ContinuousClock.Instant] = []
        var afterHold = false
        while !stopping {
            let child: ChildProcess
            do {
                child = try ChildProcess.spawn(spec.executable, spec.arguments,
                                               environment: spec.environment.merging([OrphanWatch.variable: "\(getpid())"]) { a, _ in a })
            } catch {
                guard limits.onFailure == .hold else {
                    logger.error("cannot start node; stopping every node", metadata: ["node": "\(node)", "reason": "\(error)"])
                    gaveUp = true
                    stop(because: "node \(node) cannot start")
                    return
                }
                await hold(node, &holds, restarts: restarts.count, "cannot start node; held, the other nodes run on", ["reason": "\(error)"])
                afterHold = true
                continue
            }
            running[node] = child
            states[node] = .running(pid: child.pid)
            let started = ContinuousClock.now
            logger.info("node started", metadata: ["node": "\(node)", "pid": "\(child.pid)"])
            if afterHold {
                logger.warning("held node started again", metadata: ["node": "\(node)", "pid": "\(child.pid)"])
                printStatus()
                afterHold = false
            }
            let exit = await child.exit()
            running[node] = nil
            if stopping {
                states[node] = .stopped
                logger.info("node stopped", metadata: ["node": "\(node)", "exit": "\(exit)"])
                return
            }
            if exit.isNormal {
                states[node] = .exited("exited normally; not restarted")
                logger.info("node exited normally; not restarted", metadata: ["node": "\(node)"])
                return
            }
            let now = ContinuousClock.now
            if now - started > limits.within {
                backoff.succeeded()
                holds.succeeded()
            }
            restarts = restarts.filter { now - $0 < limits.within } + [now]
            if restarts.count > limits.maxRestarts {
                let count = restarts.count - 1
                if limits.onFailure == .stopAll {
                    logger.error("node restarted too often; stopping every node",
                                 metadata: ["node": "\(node)", "restarts": "\(count)", "within": "\(limits.within)", "exit": "\(exit)"])
                    gaveUp = true
                    stop(because: "node \(node) restarted too often")
                    return
                }
                restarts = []
                backoff.succeeded()
                await hold(node, &holds, restarts: count, "node restarted too often; held, the other nodes run on",
                           ["restarts": "\(count)", "within": "\(limits.within)", "exit": "\(exit)"])
                afterHold = true
                continue
            }
            let delay = backoff.failed()
            states[node] = .restarting(after: delay)
            logger.warning("node exited abnormally; restarting",
                           metadata: ["node": "\(node)", "exit": "\(exit)", "delay": "\(delay)"])
            await pause(delay)
        }
    }

    /// Holds `node` for its next hold delay: logged as an error, the status table printed, then waits (less if
    /// stopping meanwhile).
    private func hold(_ node: String, _ delays: inout Backoff, restarts: Int, _ message: Logger.Message, _ metadata: Logger.Metadata) async {
        let delay = delays.failed()
        states[node] = .held(until: Date() + delay.inSeconds, restarts: restarts)
        logger.error(message, metadata: metadata.merging(["node": "\(node)", "retry in": "\(delay)"]) { a, _ in a })
        printStatus()
        await pause(delay)
    }

    /// The status table on stdout: each child and what it is doing.
    private func printStatus() {
        let width = children.map(\.name.count).max() ?? 0
        var lines = ["troupe up: status"]
        for child in children {
            let name = child.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let state: String
            switch states[child.name] {
            case .running(let pid)?: state = "running     pid \(pid)"
            case .restarting(let delay)?: state = "restarting  in \(delay)"
            case .held(let until, let restarts)?:
                state = "held        restarted \(restarts) times within \(limits.within); next try at \(ISO8601DateFormatter().string(from: until))"
            case .exited(let why)?: state = "exited      \(why)"
            case .stopped?: state = "stopped"
            case nil: state = "starting"
            }
            lines.append("  \(name)  \(state)")
        }
        print(lines.joined(separator: "\n"))
        fflush(nil)
    }

    /// Sleeps `delay`, or less if stopping meanwhile.
    private func pause(_ delay: Duration) async {
        let end = ContinuousClock.now + delay
        while !stopping, ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(50)) }
    }

    private func stop(because reason: String) {
        guard !stopping else { return }
        stopping = true
        logger.info("stopping every node", metadata: ["reason": "\(reason)"])
        for child in running.values { child.send(SIGTERM) }
        let timeout = limits.stopTimeout
        Task {
            try? await Task.sleep(for: timeout)
            self.killRemaining()
        }
    }

    private func killRemaining() {
        for (node, child) in running {
            logger.warning("node did not stop in time; killing it", metadata: ["node": "\(node)", "pid": "\(child.pid)"])
            child.send(SIGKILL)
        }
    }
}
