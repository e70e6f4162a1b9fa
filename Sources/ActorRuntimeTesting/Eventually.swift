/// Waits until `condition` holds, checking it every few milliseconds, up to `timeout`; throws a
/// ``TestKitError`` naming `what` otherwise. For outcomes that happen in other processes (a broker, a
/// database), which send no event to await. Inside the actor system, await events instead.
public func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestKitError("timed out after \(timeout) waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}
