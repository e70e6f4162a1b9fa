#ifndef TROUPE_CTASKIDENTITY_H
#define TROUPE_CTASKIDENTITY_H

#include <stdint.h>

// The Swift concurrency runtime's entry point for the running task (what compiled Swift code calls). It
// hands the task out unretained, where Swift's `withUnsafeCurrentTask` retains and releases it on every
// call. Declared with the Swift calling convention, as the runtime defines it.
__attribute__((swiftcall)) void *_Nullable swift_task_getCurrent(void);

/// The running task's address, 0 outside a task: an identity to compare, never dereferenced.
static inline uintptr_t troupe_current_task_identity(void) {
    return (uintptr_t)swift_task_getCurrent();
}

#endif
