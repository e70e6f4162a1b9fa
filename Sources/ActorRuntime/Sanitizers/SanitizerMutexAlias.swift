#if TROUPE_TSAN
/// In the ThreadSanitizer build, this module's `Mutex` is one the sanitizer can see (see SanitizerVisibleMutex).
@usableFromInline typealias Mutex<Value: ~Copyable> = SanitizerVisibleMutex<Value>
#endif
