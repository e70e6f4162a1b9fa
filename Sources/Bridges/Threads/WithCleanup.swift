/// Runs `body`, then `cleanup` on every path, and returns or rethrows what `body` did: an async `defer`.
/// For a pool or publisher a command closes before it returns (a close left to a `Task` from a `defer`
/// raced the process's exit: its connection thread was still closing while the process tore down).
public func withCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}
