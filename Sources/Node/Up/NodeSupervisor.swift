import ActorRuntime
import Bridges
import Foundation
import Logging
import UnixSignals

/// `troupe up`: every node of the topology as a child process (`troupe node NAME`), supervised like an
/// Erlang/OTP supervisor's permanent children. A child that exits abnormally (non-zero code, a signal)
/// is restarted after a backoff; more than `maxRestarts` restarts of one node within `within` and the
/// supervisor gives up: it stops every node and exits 1. SIGINT and SIGTERM are forwarded to the
/// children (which shut down gracefully); one still running after `stopTimeout` gets SIGKILL.
actor NodeSupervisor {
    struct Limits: Sendable {
        var maxRestarts = 5
        var within: Duration = .seconds(60)
        var backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(5))
        var stopTimeout: Duration = .seconds(12)
    }

    /// A child process: a node (`troupe node NAME`) or the vendor simulator.
    struct Child: Sendable {
        let name: String
        let executable: String
        let arguments: [String]
        var environment: [String: String] = [:]
    }

    private let children: [Child]
    private let limits: Limits
    private let logger = Logger(label: "troupe.up")
    private var running: [String: ChildProcess] = [:]
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

    /// Runs the nodes until a signal stops them or one restarts too often; returns the exit code.
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
        var backoff = limits.backoff
        var restarts: [ContinuousClock.Instant] = []
        while !stopping {
            let child: ChildProcess
            do {
                child = try ChildProcess.spawn(spec.executable, spec.arguments,
                                               environment: spec.environment.merging([OrphanWatch.variable: "\(getpid())"]) { a, _ in a })
            } catch {
                logger.error("cannot start node", metadata: ["node": "\(node)", "reason": "\(error)"])
                gaveUp = true
                stop(because: "node \(node) cannot start")
                return
            }
            running[node] = child
            let started = ContinuousClock.now
            logger.info("node started", metadata: ["node": "\(node)", "pid": "\(child.pid)"])
            let exit = await child.exit()
            running[node] = nil
            if stopping {
                logger.info("node stopped", metadata: ["node": "\(node)", "exit": "\(exit)"])
                return
            }
            if exit.isNormal {
                logger.info("node exited normally; not restarted", metadata: ["node": "\(node)"])
                return
            }
            let now = ContinuousClock.now
            if now - started > limits.within { backoff.succeeded() }
            restarts = restarts.filter { now - $0 < limits.within } + [now]
            if restarts.count > limits.maxRestarts {
                logger.error("node restarted too often; stopping every node",
                             metadata: ["node": "\(node)", "restarts": "\(restarts.count - 1)", "within": "\(limits.within)"])
                gaveUp = true
                stop(because: "node \(node) restarted too often")
                return
            }
            let delay = backoff.failed()
            logger.warning("node exited abnormally; restarting",
                           metadata: ["node": "\(node)", "exit": "\(exit)", "delay": "\(delay)"])
            await pause(delay)
        }
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
