import ActorRuntimeTesting
import Foundation
import Glibc
import Synchronization

/// A `troupe` process that keeps running while a test watches its output and signals it: spawned with
/// `posix_spawn`, its stdout and stderr read into one text by a thread, its exit taken with `waitpid`.
final class NodeProcess: Sendable {
    let pid: pid_t
    private let output = Mutex("")
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` (the `troupe` built with the tests by default) with `arguments`.
    init(_ arguments: [String], environment: [String: String] = [:], executable: URL = CLI.binary) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TestKitError("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable.path, &actions, nil, argv, envp)
        close(fds[1])
        guard rc == 0 else { close(fds[0]); throw TestKitError("cannot start troupe: \(rc)") }
        self.pid = pid
        let reader = fds[0]
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(reader, &buffer, buffer.count)
                if n <= 0 { break }
                output.withLock { $0 += String(decoding: buffer[..<n], as: UTF8.self) }
            }
            close(reader)
        }
        let child = pid
        Thread.detachNewThread { [self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            exitStatus.withLock { $0 = status }
        }
    }

    /// Everything it printed so far.
    var text: String { output.withLock { $0 } }

    func signal(_ signal: Int32) { Glibc.kill(pid, signal) }

    /// Its exit code once it exited (a signal's death reads as 128 + the signal).
    var exitCode: Int32? {
        exitStatus.withLock { status in
            status.map { $0 & 0x7f == 0 ? ($0 >> 8) & 0xff : 128 + ($0 & 0x7f) }
        }
    }

    /// Waits until it printed something containing `needle`.
    func waitFor(_ needle: String, timeout: Duration = .seconds(30)) async throws {
        try await eventually("'\(needle)' in the output of troupe \(pid)", timeout: timeout) { text.contains(needle) }
    }

    /// Waits until `condition` holds (e.g. its edge answers); on timeout the error carries what it printed
    /// (the output at the deadline, not at the start). `waitFor` and `waitForExit` wait through it too.
    /// On timeout the process is killed: a node whose test failed while starting it was left running and
    /// kept consuming the shared queues (and skewing the benchmarks) after the run.
    func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        do {
            try await ActorRuntimeTesting.eventually(what, timeout: timeout, condition)
        } catch {
            kill()
            throw TestKitError("\(error); troupe \(pid) printed:\n\(text)")
        }
    }

    /// Waits until it exited; returns the exit code.
    func waitForExit(timeout: Duration) async throws -> Int32 {
        try await eventually("troupe \(pid) to exit", timeout: timeout) { exitCode != nil }
        return exitCode!
    }

    /// Makes sure it is gone (after a failed expectation).
    func kill() {
        if exitCode == nil { signal(SIGKILL) }
    }
}
