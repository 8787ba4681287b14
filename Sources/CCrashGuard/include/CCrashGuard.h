/*
 * Crash memory for in-process functions.
 *
 * An in-process function that crashes takes the whole host with it. Before
 * the crash signal is passed on, the host's handler appends one line naming
 * the function that was running on the crashing thread to a log file, so
 * that the next start can move that function to worker processes.
 *
 * Everything the handler touches is prepared beforehand: the line's text
 * and the open file descriptor live in a describer_crash_marker made when
 * the function is loaded, and the handler only formats two integers and
 * calls write(2) and fsync(2), both async-signal-safe.
 */
#ifndef DESCRIBER_CRASH_GUARD_H
#define DESCRIBER_CRASH_GUARD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the handler writes for one loaded function. Never freed: a marker may
 * be in use by a thread at the moment of a crash. */
typedef struct describer_crash_marker {
    /* An open descriptor of the crash log, opened O_APPEND. */
    int fd;
    /* The line's start ("NAME\tFINGERPRINT\t"); the handler appends
     * "SIGNAL\tUNIX_SECONDS\n". */
    const char *prefix;
    size_t prefix_size;
} describer_crash_marker;

/* Installs the handler for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT and
 * SIGSYS, once per process, keeping whatever handlers were installed before
 * (the Swift runtime's backtracer, say) and passing every signal on to them.
 * Returns 0, or an errno value. */
int describer_crash_guard_install(void);

/* Gives the calling thread an alternate signal stack, so that a stack
 * overflow in a function is recorded too. Once per thread; 0 or an errno. */
int describer_crash_guard_prepare_thread(void);

/* Names the calling thread as the kernel shows it to top, perf and gdb
 * (15 bytes at most; longer names are cut). Foundation's Thread does not
 * pass its name on to the OS on Linux. */
void describer_crash_guard_name_thread(const char *name);

/* Takes back and frees the stack prepare_thread gave the calling thread;
 * call it last thing before the thread exits. */
void describer_crash_guard_release_thread(void);

/* Marks the calling thread as running `marker`'s function until
 * describer_crash_guard_leave. NULL is allowed and means none. */
void describer_crash_guard_enter(const describer_crash_marker *marker);
void describer_crash_guard_leave(void);

#ifdef __cplusplus
}
#endif

#endif
