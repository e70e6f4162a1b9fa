#if TROUPE_TSAN
import Glibc

/// Under ThreadSanitizer only (built with `-D TROUPE_TSAN` by scripts/sanitize.sh): stands in for
/// Synchronization's `Mutex`. That mutex waits for a contended lock on a futex inside the standard library,
/// which is not instrumented, so ThreadSanitizer misses the hand-over and reports races on everything the
/// lock protects. This one is a pthread mutex, which ThreadSanitizer intercepts. Each module that runs
/// under the sanitizer aliases `Mutex` to it in that build (`SanitizerMutexAlias.swift`); other builds
/// use the standard `Mutex` untouched.
@usableFromInline package final class SanitizerVisibleMutex<Value: ~Copyable>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    package init(_ value: consuming sending Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @usableFromInline package func withLock<Result: ~Copyable, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
#endif
