#if TROUPE_TSAN
import ActorRuntime

/// In the ThreadSanitizer build, this module's `Mutex` is one the sanitizer can see (see SanitizerVisibleMutex).
typealias Mutex<Value: ~Copyable> = SanitizerVisibleMutex<Value>
#endif
