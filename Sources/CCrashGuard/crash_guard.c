#define _GNU_SOURCE
#include "CCrashGuard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* initial-exec: reading it in the handler must not allocate. */
static __thread const describer_crash_marker *current
    __attribute__((tls_model("initial-exec")));

static const int guarded_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS};
#define GUARDED_COUNT (sizeof guarded_signals / sizeof guarded_signals[0])
static struct sigaction previous[GUARDED_COUNT];

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

/* Writes `value` in decimal into `out` (room for 20 digits); returns the length. */
static size_t format_decimal(unsigned long long value, char *out) {
    char digits[20];
    size_t count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0 && count < sizeof digits);
    for (size_t i = 0; i < count; i++) out[i] = digits[count - 1 - i];
    return count;
}

static void record(const describer_crash_marker *marker, int signal_number) {
    char line[512];
    size_t size = marker->prefix_size;
    if (size > sizeof line - 48) size = sizeof line - 48;
    memcpy(line, marker->prefix, size);
    size += format_decimal((unsigned long long)signal_number, line + size);
    line[size++] = '\t';
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    size += format_decimal((unsigned long long)now.tv_sec, line + size);
    line[size++] = '\n';
    /* One write of the whole line: O_APPEND keeps lines from concurrent
     * crashes on several threads whole. */
    ssize_t written;
    do {
        written = write(marker->fd, line, size);
    } while (written < 0 && errno == EINTR);
    fsync(marker->fd);
}

static void handle(int signal_number, siginfo_t *info, void *context) {
    (void)context;
    int saved_errno = errno;
    const describer_crash_marker *marker = current;
    if (marker != NULL) {
        current = NULL; /* a second fault while recording is not recorded twice */
        record(marker, signal_number);
    }
    /* Hand the signal to whoever had it before us. A fault re-executes the
     * faulting instruction on return and arrives there with its siginfo
     * intact; a signal that was sent (kill, raise, abort) is sent again and
     * is delivered as soon as this handler returns. */
    for (size_t i = 0; i < GUARDED_COUNT; i++) {
        if (guarded_signals[i] == signal_number) {
            sigaction(signal_number, &previous[i], NULL);
            break;
        }
    }
    if (info == NULL || info->si_code <= 0) raise(signal_number);
    errno = saved_errno;
}

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handle;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < GUARDED_COUNT; i++) {
        if (sigaction(guarded_signals[i], &action, &previous[i]) != 0) {
            install_error = errno;
            return;
        }
    }
}

int describer_crash_guard_install(void) {
    pthread_once(&install_once, install);
    return install_error;
}

/* The alternate stack this thread got from prepare_thread, if any. */
static __thread void *own_stack __attribute__((tls_model("initial-exec")));

int describer_crash_guard_prepare_thread(void) {
    stack_t existing;
    if (sigaltstack(NULL, &existing) == 0 && !(existing.ss_flags & SS_DISABLE)) return 0;
    size_t size = 64 * 1024;
    void *memory = malloc(size);
    if (memory == NULL) return ENOMEM;
    stack_t stack = {.ss_sp = memory, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&stack, NULL) != 0) {
        int error = errno;
        free(memory);
        return error;
    }
    own_stack = memory;
    return 0;
}

void describer_crash_guard_release_thread(void) {
    if (own_stack == NULL) return;
    stack_t disabled = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    if (sigaltstack(&disabled, NULL) == 0) {
        free(own_stack);
        own_stack = NULL;
    }
}

void describer_crash_guard_enter(const describer_crash_marker *marker) { current = marker; }

void describer_crash_guard_leave(void) { current = NULL; }

void describer_crash_guard_name_thread(const char *name) {
    char cut[16];
    strncpy(cut, name, sizeof cut - 1);
    cut[sizeof cut - 1] = '\0';
    (void)pthread_setname_np(pthread_self(), cut);
}
