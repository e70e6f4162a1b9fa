import ActorRuntime
import Foundation
import Synchronization

/// `troupe-bench local`: in-process messaging through ActorRuntime, against plain Swift actors.
enum LocalBench {
    static let pairs = Int(ProcessInfo.processInfo.environment["BENCH_PAIRS"] ?? "") ?? 100
    static let roundTrips = Int(ProcessInfo.processInfo.environment["BENCH_ROUNDTRIPS"] ?? "") ?? 20_000
    static let senders = 1_000
    static let perSender = 2_000
    static let asks = 200_000
    static let repeats = Int(ProcessInfo.processInfo.environment["BENCH_REPEATS"] ?? "") ?? 3
    /// For profiling the runtime alone: BENCH_SKIP_BASELINE=1.
    static let skipBaseline = ProcessInfo.processInfo.environment["BENCH_SKIP_BASELINE"] != nil
    static let only = ProcessInfo.processInfo.environment["BENCH_ONLY"]

    @Sendable static func run() async {
        var best: [String: Double] = [:]
        func keep(_ key: String, _ v: Double) { best[key] = max(best[key] ?? 0, v) }
        // What an idle actor costs, in a process of its own: a fresh heap (freed memory of the other cases would
        // be reused) and a peak RSS of the other cases that is theirs.
        if only == "idle" { report("local.bytes_per_idle_actor", await bytesPerIdleActor(), "bytes"); return }
        if only == nil, let line = idleCaseInOwnProcess() { print(line) }
        // The runtime's cases first, so that peak RSS is the runtime's own (the fan-in baseline's
        // unbounded actor queue would dominate it); then the baselines, as many times.
        for _ in 0..<repeats {
            if only == nil || only == "pingpong" { keep("pingpong", await runtimePingPong()) }
            if only == nil || only == "fanin" { keep("fanin", await runtimeFanIn()) }
            if only == nil || only == "ask" { keep("ask", await runtimeAsk()) }
        }
        let runtimeRSS = peakRSSMiB()
        for _ in 0..<repeats where !skipBaseline {
            if only == nil || only == "pingpong" { keep("baseline_pingpong", await baselinePingPong()) }
            if only == nil || only == "fanin" { keep("baseline_fanin", await baselineFanIn()) }
        }
        for key in ["pingpong", "baseline_pingpong", "fanin", "baseline_fanin"] where best[key] != nil {
            report("local.\(key)", best[key]!, "msg/s")
        }
        if let ask = best["ask"] { report("local.ask", ask, "roundtrips/s") }
        if only == nil, !skipBaseline, let erlang = ErlangPeer.run(pairs: pairs, roundTrips: roundTrips, repeats: repeats) {
            report("local.erlang_pingpong", erlang.pingpong, "msg/s")
            report("local.erlang_fanin", erlang.fanin, "msg/s")
            report("local.pingpong_vs_erlang", best["pingpong"]! / erlang.pingpong, "ratio")
            report("local.fanin_vs_erlang", best["fanin"]! / erlang.fanin, "ratio")
        }
        if let a = best["pingpong"], let b = best["baseline_pingpong"] { report("local.pingpong_vs_baseline", a / b, "ratio") }
        if let a = best["fanin"], let b = best["baseline_fanin"] { report("local.fanin_vs_baseline", a / b, "ratio") }
        report("local.peak_rss", runtimeRSS, "MiB")
    }

    // MARK: ActorRuntime

    enum Ball: Sendable { case serve(ActorRef<Ball>, Int, ActorRef<Done>), hit(ActorRef<Ball>, Int) }
    struct Done: Sendable {}

    final class Player: ActorBehavior {
        var done: ActorRef<Done>?
        func receive(_ m: Ball, context: ActorContext<Ball>) async throws {
            switch m {
            case .serve(let other, let n, let done):
                self.done = done
                await other.tell(.hit(context.myself, n))
            case .hit(let from, let n):
                if n == 0 { await done?.tell(Done()); return }
                await from.tell(.hit(context.myself, n - 1))
            }
        }
    }

    final class Counter<M: Sendable>: ActorBehavior {
        let expected: Int
        let finished: @Sendable () -> Void
        var seen = 0
        init(expected: Int, finished: @escaping @Sendable () -> Void) { self.expected = expected; self.finished = finished }
        func receive(_ m: M, context: ActorContext<M>) async throws {
            seen += 1
            if seen == expected { finished() }
        }
    }

    // Each case sets up, times from kick-off to completion, then shuts its system down untimed and
    // awaited, so that no teardown runs into the next measurement.

    static func runtimePingPong() async -> Double {
        let system = ActorSystem(name: "bench")
        let completion = Completion()
        let done = try! system.spawn(Props { Counter<Done>(expected: pairs, finished: completion.fire) }, name: "done")
        let players = (0..<pairs).map { i in
            (try! system.spawn(Props { Player() }, name: "a\(i)"), try! system.spawn(Props { Player() }, name: "b\(i)"))
        }
        let start = ContinuousClock.now
        // each pair exchanges 2 * roundTrips messages, the serve hop included
        for (a, b) in players { await b.tell(.serve(a, 2 * roundTrips - 1, done)) }
        await completion.wait()
        let rate = Double(pairs * roundTrips * 2) / seconds(since: start)
        await system.shutdown()
        return rate
    }

    enum Go: Sendable { case go(ActorRef<Int>) }

    final class Sender: ActorBehavior {
        func receive(_ m: Go, context: ActorContext<Go>) async throws {
            guard case .go(let sink) = m else { return }
            for i in 0..<perSender { await sink.tell(i) }
        }
    }

    static func runtimeFanIn() async -> Double {
        let system = ActorSystem(name: "bench")
        let completion = Completion()
        let total = senders * perSender
        let sink = try! system.spawn(Props(mailboxCapacity: 4096) { Counter<Int>(expected: total, finished: completion.fire) }, name: "sink")
        let refs = (0..<senders).map { i in try! system.spawn(Props { Sender() }, name: "s\(i)") }
        let start = ContinuousClock.now
        for r in refs { await r.tell(.go(sink)) }
        await completion.wait()
        let rate = Double(total) / seconds(since: start)
        await system.shutdown()
        return rate
    }

    enum Query: Sendable { case get(ReplyTo<Int>) }
    final class Answerer: ActorBehavior {
        var n = 0
        func receive(_ m: Query, context: ActorContext<Query>) async throws {
            guard case .get(let r) = m else { return }
            n += 1
            r.send(n)
        }
    }

    static func runtimeAsk() async -> Double {
        let system = ActorSystem(name: "bench")
        let target = try! system.spawn(Props { Answerer() }, name: "answerer")
        let clients = 100
        let secs = await measure {
            await withTaskGroup(of: Void.self) { g in
                for _ in 0..<clients {
                    g.addTask {
                        for _ in 0..<(asks / clients) { _ = try? await target.ask(timeout: .seconds(10)) { .get($0) } }
                    }
                }
            }
        }
        await system.shutdown()
        return Double(asks) / secs
    }

    /// Runs this executable again with BENCH_ONLY=idle and returns its `local.bytes_per_idle_actor` line.
    static func idleCaseInOwnProcess() -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = Array(CommandLine.arguments.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(["BENCH_ONLY": "idle"]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return output.split(separator: "\n").first { $0.hasPrefix("local.bytes_per_idle_actor") }.map(String.init)
    }

    static let idleActors = Int(ProcessInfo.processInfo.environment["BENCH_IDLE_ACTORS"] ?? "") ?? 100_000

    final class Idle: ActorBehavior {
        let started: @Sendable () -> Void
        init(started: @escaping @Sendable () -> Void) { self.started = started }
        func preStart(context: ActorContext<Int>) async throws { started() }
        func receive(_ m: Int, context: ActorContext<Int>) async throws {}
    }

    /// Resident memory added per actor by 100,000 started, idle actors (default props: mailbox capacity
    /// 1024), the supervisor's bookkeeping of them included. Erlang's process is about 2.6 KiB with its heap.
    static func bytesPerIdleActor() async -> Double {
        let system = ActorSystem(name: "idle")
        let completion = Completion()
        let count = StartCount(target: idleActors, done: completion.fire)
        let before = currentRSSBytes()
        var refs: [ActorRef<Int>] = []
        refs.reserveCapacity(idleActors)
        for i in 0..<idleActors { refs.append(try! system.spawn(Props { Idle(started: count.increment) }, name: "idle-\(i)")) }
        await completion.wait()
        let perActor = Double(currentRSSBytes() - before) / Double(idleActors)
        let stopping = ContinuousClock.now
        await system.shutdown()
        if ProcessInfo.processInfo.environment["BENCH_VERBOSE"] != nil { print("idle shutdown took \(ContinuousClock.now - stopping)") }
        blackHole(refs)
        return perActor
    }

    final class StartCount: Sendable {
        private let n = Mutex(0)
        let target: Int
        let done: @Sendable () -> Void
        init(target: Int, done: @escaping @Sendable () -> Void) { self.target = target; self.done = done }
        @Sendable func increment() { if n.withLock({ $0 += 1; return $0 }) == target { done() } }
    }

    // MARK: plain Swift actors (the baseline)

    actor PlainPong {
        var hits = 0
        func ping(_ n: Int) -> Int { hits &+= n; return hits }
    }
    actor PlainPing {
        var last = 0
        func run(_ pong: PlainPong, _ n: Int) async -> Int {
            for i in 0..<n { last = await pong.ping(i) }
            return last
        }
    }

    static func baselinePingPong() async -> Double {
        let secs = await measure {
            await withTaskGroup(of: Void.self) { g in
                for _ in 0..<pairs {
                    let ping = PlainPing(), pong = PlainPong()
                    g.addTask { blackHole(await ping.run(pong, roundTrips)) }
                }
            }
        }
        return Double(pairs * roundTrips * 2) / secs
    }

    actor PlainSink {
        var seen = 0
        func receive(_ i: Int) { seen &+= i }
    }

    static func baselineFanIn() async -> Double {
        let sink = PlainSink()
        let secs = await measure {
            await withTaskGroup(of: Void.self) { g in
                for _ in 0..<senders {
                    g.addTask { for i in 0..<perSender { await sink.receive(i) } }
                }
            }
        }
        blackHole(await sink.seen)
        return Double(senders * perSender) / secs
    }
}

/// Keeps the optimiser from deleting work whose result is otherwise unused.
@inline(never) func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }
