import Bridges
import Foundation

/// A child process of `troupe up`: spawned with `posix_spawn` (sharing the parent's stdout and stderr),
/// waited for with `waitpid` on a thread of its own (a blocking call, kept off the cooperative pool).
struct ChildProcess: Sendable {
    /// How a child ended.
    enum Exit: Sendable, Equatable, CustomStringConvertible {
        case code(Int32)
        case signal(Int32)

        /// Exit 0: it was asked to stop, or had nothing more to do. Anything else is a crash.
        var isNormal: Bool { self == .code(0) }

        var description: String {
            switch self {
            case .code(let c): "exit code \(c)"
            case .signal(let s): "signal \(s)\(s == SIGKILL ? " (SIGKILL)" : s == SIGSEGV ? " (SIGSEGV)" : "")"
            }
        }
    }

    let pid: pid_t

    /// Starts `executable` with `arguments` (not including argv[0]) and this process's environment plus
    /// `environment` (how a secret reaches a child without showing in its command line).
    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, nil, nil, argv, envp)
        guard rc == 0 else { throw CLIError(message: "cannot start \(executable): \(String(cString: strerror(rc)))", exitCode: 1) }
        return ChildProcess(pid: pid)
    }

    /// Waits until the child ends.
    func exit() async -> Exit {
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

    func send(_ signal: Int32) { kill(pid, signal) }

    /// An executable beside this one (same build), e.g. `troupe-vendor-sim`.
    static func sibling(_ name: String) -> String {
        URL(fileURLWithPath: selfPath).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// This executable's own path, to start children of the same build.
    static var selfPath: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        return n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }
}
