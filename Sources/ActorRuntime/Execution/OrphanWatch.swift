import Foundation

/// For a process started by a supervisor process (`troupe up` passes its pid in ``variable``): sends this
/// process SIGTERM, its graceful stop, once that supervisor is gone without having stopped it (killed
/// with SIGKILL), rather than running on unsupervised. Checks every second.
public enum OrphanWatch {
    /// The environment variable a supervising process sets for its children: its pid.
    public static let variable = "TROUPE_UP_PID"

    /// Starts watching when this process has a supervisor; does nothing otherwise.
    public static func start() {
        guard let text = ProcessInfo.processInfo.environment[variable], let supervisor = pid_t(text) else { return }
        Task.detached {
            while getppid() == supervisor { try? await Task.sleep(for: .seconds(1)) }
            kill(getpid(), SIGTERM)
        }
    }
}
