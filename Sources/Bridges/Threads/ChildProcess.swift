import Foundation

/// A child process (`troupe up`'s nodes, the benchmark's `pgbench`): spawned with `posix_spawn`, with
/// every signal unblocked and at its default action (the spawning thread may block some, and the
/// parent may ignore SIGINT/SIGTERM to handle them itself; a child must not inherit either: pgbench's
/// `-T` timer is a SIGALRM), sharing the parent's stdout and stderr unless told otherwise; waited for
/// with `waitpid` on a thread of its own (a blocking call, kept off the cooperative pool).
public struct ChildProcess: Sendable {
    /// posix_spawn's failure.
    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    /// How a child ended.
    public enum Exit: Sendable, Equatable, CustomStringConvertible {
        case code(Int32)
        case signal(Int32)

        /// Exit 0: it was asked to stop, or had nothing more to do. Anything else is a crash.
        public var isNormal: Bool { self == .code(0) }

        public var description: String {
            switch self {
            case .code(let c): "exit code \(c)"
            case .signal(let s): "signal \(s)\(s == SIGKILL ? " (SIGKILL)" : s == SIGSEGV ? " (SIGSEGV)" : "")"
            }
        }
    }

    public let pid: pid_t

    /// Starts `executable` with `arguments` (not including argv[0]) and this process's environment plus
    /// `environment` (how a secret reaches a child without showing in its command line); its standard
    /// output goes to the file `stdout` when given, its standard error (its logs) to the file `stderr`.
    public static func spawn(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                             stdout: String? = nil, stderr: String? = nil) throws(SpawnError) -> ChildProcess {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var attributes = posix_spawnattr_t(), actions = posix_spawn_file_actions_t()
        posix_spawnattr_init(&attributes)
        posix_spawn_file_actions_init(&actions)
        defer {
            posix_spawnattr_destroy(&attributes)
            posix_spawn_file_actions_destroy(&actions)
        }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        if let stdout { posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600) }
        if let stderr { posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600) }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(rc)))") }
        return ChildProcess(pid: pid)
    }

    /// Waits until the child ends.
    public func exit() async -> Exit {
        let pid = self.pid
        let status = (try? await DedicatedThread.run("troupe.up.wait") { () -> Int32 in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            return status
        }) ?? 0
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? .code((status >> 8) & 0xff) : .signal(signal)
    }

    public func send(_ signal: Int32) { kill(pid, signal) }

    /// An executable beside this one (same build), e.g. `troupe-vendor-sim`.
    public static func sibling(_ name: String) -> String {
        URL(fileURLWithPath: selfPath).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// This executable's own path, to start children of the same build.
    public static var selfPath: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        return n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }
}
