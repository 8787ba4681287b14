/*
 * describer-worker — runs one instance of one function in its own process, for
 * the host's `isolation: process` tier.
 *
 *   describer-worker --library PATH [--info] [--parent PID] [--max-frame BYTES]
 *                    [--max-output BYTES] [--memory BYTES] [--cpu-seconds N]
 *                    [--open-files N] [--nice N] [--chdir DIR]
 *
 * The host starts it with the protocol socket as fd 3 (describer_worker_protocol.h
 * describes the frames). The worker applies its resource limits, loads the
 * library with uv_dlopen, reports the library's describer_function_info, creates
 * one instance and then serves batches until the host sends DESTROY or goes
 * away. It implements the describer_host callbacks itself: respond and fail
 * collect each item's result, log ships lines to the host at once, expired
 * compares the request's deadline with now_ns (CLOCK_MONOTONIC is shared by
 * every process of the machine), and the results travel back in one frame.
 *
 * It is C, not Swift, so that it starts in a millisecond or two (no runtime to
 * initialise) and so that a Swift function loaded into it never meets a second
 * Swift runtime. With --info it only reports the library and exits: the host
 * uses that to validate a library without loading it into itself.
 */
#define _GNU_SOURCE
#include "describer_function.h"
#include "describer_worker_protocol.h"
#include "frames.h"

_Static_assert(DWP_MAX_LOG == DESCRIBER_MAX_MESSAGE, "log lines and failure messages are cut alike on both tiers");

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

typedef const describer_function_info *(*get_info_fn)(void);
typedef int (*create_fn)(const describer_host *, describer_call *, const char *, size_t, void **);
typedef int (*process_fn)(void *, describer_call *, const describer_request *, size_t);
typedef void (*destroy_fn)(void *);

static const int sock = DWP_SOCKET_FD;
static size_t max_frame = DWP_MAX_FRAME;
static size_t max_output = 64u << 20;
static unsigned long long memory_limit;

/* How long a reader polls without blocking after its last frame: a steady
 * stream of small batches then never pays for a wake-up. */
#define SPIN_NS 50000ull

/* ---------------------------------------------------------------------------
 * Writing frames. Several threads may write (log lines from a function's own
 * threads), so a whole frame is written under one lock with writev.
 * ------------------------------------------------------------------------- */

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    uint8_t *scratch; /* small fields */
    size_t scratch_size, scratch_capacity;
    /* Each piece is either scratch[offset, offset+size) (data == NULL) or external data. */
    struct piece { const void *data; size_t offset, size; } *pieces;
    size_t piece_count, piece_capacity;
    size_t total;
    int failed;
} frame;

static void frame_init(frame *f) { memset(f, 0, sizeof *f); }

static void frame_free(frame *f) {
    free(f->scratch);
    free(f->pieces);
}

static void frame_piece(frame *f, const void *data, size_t offset, size_t size) {
    if (f->failed || size == 0) return;
    /* Small fields that follow each other in scratch share one piece. */
    if (data == NULL && f->piece_count > 0) {
        struct piece *last = &f->pieces[f->piece_count - 1];
        if (last->data == NULL && last->offset + last->size == offset) {
            last->size += size;
            f->total += size;
            return;
        }
    }
    if (f->piece_count == f->piece_capacity) {
        size_t capacity = f->piece_capacity ? f->piece_capacity * 2 : 16;
        struct piece *pieces = realloc(f->pieces, capacity * sizeof *pieces);
        if (pieces == NULL) { f->failed = 1; return; }
        f->pieces = pieces;
        f->piece_capacity = capacity;
    }
    f->pieces[f->piece_count++] = (struct piece){data, offset, size};
    f->total += size;
}

static void frame_bytes(frame *f, const void *bytes, size_t size) {
    if (f->failed || size == 0) return;
    if (f->scratch_size + size > f->scratch_capacity) {
        size_t capacity = f->scratch_capacity ? f->scratch_capacity : 256;
        while (capacity < f->scratch_size + size) capacity *= 2;
        uint8_t *scratch = realloc(f->scratch, capacity);
        if (scratch == NULL) { f->failed = 1; return; }
        f->scratch = scratch;
        f->scratch_capacity = capacity;
    }
    memcpy(f->scratch + f->scratch_size, bytes, size);
    frame_piece(f, NULL, f->scratch_size, size);
    f->scratch_size += size;
}

static void write_all_iov(struct iovec *iov, int count) {
    while (count > 0) {
        ssize_t written = writev(sock, iov, count > IOV_MAX ? IOV_MAX : count);
        if (written < 0) {
            if (errno == EINTR) continue;
            _exit(DWP_EXIT_IO); /* the host has gone */
        }
        while (count > 0 && (size_t)written >= iov->iov_len) {
            written -= (ssize_t)iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + written;
            iov->iov_len -= (size_t)written;
        }
    }
}

/* Sends `f` as one frame of `type`. Exits when the frame cannot be built. */
static void frame_send(frame *f, uint8_t type) {
    if (f->failed) _exit(DWP_EXIT_NO_MEMORY);
    if (f->total > DWP_MAX_FRAME) _exit(DWP_EXIT_PROTOCOL);
    dwp_frame_header header = {.length = (uint32_t)f->total, .version = DWP_VERSION, .type = type, .reserved = 0};
    struct iovec *iov = malloc((f->piece_count + 1) * sizeof *iov);
    if (iov == NULL) _exit(DWP_EXIT_NO_MEMORY);
    iov[0] = (struct iovec){&header, sizeof header};
    for (size_t i = 0; i < f->piece_count; i++) {
        const struct piece *p = &f->pieces[i];
        iov[i + 1] = (struct iovec){(void *)(p->data ? (const uint8_t *)p->data : f->scratch + p->offset), p->size};
    }
    pthread_mutex_lock(&write_lock);
    write_all_iov(iov, (int)f->piece_count + 1);
    pthread_mutex_unlock(&write_lock);
    free(iov);
}

static void send_log(describer_log_level level, const char *message, size_t size) {
    if (size > DWP_MAX_LOG) size = DWP_MAX_LOG;
    dwp_log head = {.level = (uint32_t)level};
    frame f;
    frame_init(&f);
    frame_bytes(&f, &head, sizeof head);
    frame_bytes(&f, message, size);
    frame_send(&f, DWP_FRAME_LOG);
    frame_free(&f);
}

static void send_logf(describer_log_level level, const char *format, ...) {
    char text[1024];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    if (length < 0) return;
    send_log(level, text, (size_t)length < sizeof text ? (size_t)length : sizeof text - 1);
}

static void send_load_failed(uint32_t code, const char *message) {
    size_t size = strlen(message);
    dwp_load_failed head = {.code = code, .message_size = (uint32_t)size};
    frame f;
    frame_init(&f);
    frame_bytes(&f, &head, sizeof head);
    frame_bytes(&f, message, size);
    frame_send(&f, DWP_FRAME_LOAD_FAILED);
    frame_free(&f);
}

/* ---------------------------------------------------------------------------
 * Reading frames: one reader (the main thread), buffered, lengths checked
 * before anything is allocated.
 * ------------------------------------------------------------------------- */

static struct {
    uint8_t *buffer;
    size_t capacity, start, end;
} input;

/* Makes at least `needed` unread bytes available. Returns 0, or -1 at end of file. */
static int input_fill(size_t needed) {
    if (input.end - input.start >= needed) return 0;
    if (input.capacity - input.start < needed) {
        /* Move the unread bytes to the front, growing the buffer if needed. */
        size_t unread = input.end - input.start;
        if (input.capacity < needed) {
            size_t capacity = input.capacity ? input.capacity : 65536;
            while (capacity < needed) capacity *= 2;
            uint8_t *buffer = malloc(capacity);
            if (buffer == NULL) _exit(DWP_EXIT_NO_MEMORY);
            memcpy(buffer, input.buffer + input.start, unread);
            free(input.buffer);
            input.buffer = buffer;
            input.capacity = capacity;
        } else {
            memmove(input.buffer, input.buffer + input.start, unread);
        }
        input.start = 0;
        input.end = unread;
    }
    uint64_t spin_until = uv_hrtime() + SPIN_NS;
    while (input.end - input.start < needed) {
        int blocking = uv_hrtime() >= spin_until;
        ssize_t got = recv(sock, input.buffer + input.end, input.capacity - input.end, blocking ? 0 : MSG_DONTWAIT);
        if (got > 0) {
            input.end += (size_t)got;
        } else if (got == 0) {
            return -1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            sched_yield();
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

/* Reads the next frame; its payload stays valid until the next call. Exits at
 * end of file (the host has gone) or on a malformed header. */
static frame_in read_frame(void) {
    dwp_frame_header header;
    if (input_fill(sizeof header) != 0) _exit(0);
    memcpy(&header, input.buffer + input.start, sizeof header);
    if (header.version != DWP_VERSION) {
        fprintf(stderr, "describer-worker: frame version %u, expected %u\n", header.version, DWP_VERSION);
        _exit(DWP_EXIT_PROTOCOL);
    }
    size_t length = header.length;
    if (length > max_frame) {
        fprintf(stderr, "describer-worker: refusing a frame of %zu bytes (limit %zu)\n", length, max_frame);
        _exit(DWP_EXIT_PROTOCOL);
    }
    if (input_fill(sizeof header + length) != 0) _exit(0);
    frame_in f = {header.type, input.buffer + input.start + sizeof header, length};
    input.start += sizeof header + length;
    return f;
}

static void protocol_error(const char *what) {
    fprintf(stderr, "describer-worker: malformed frame: %s\n", what);
    _exit(DWP_EXIT_PROTOCOL);
}

/* ---------------------------------------------------------------------------
 * The describer_host callbacks and the state of one call.
 * ------------------------------------------------------------------------- */

typedef struct {
    int kind; /* DWP_ITEM_* */
    uint32_t status;
    char *content_type; /* OUTPUT; FAILURE: message */
    size_t text_size;
    uint8_t *data;
    size_t size;
} item_result;

struct describer_call {
    pthread_mutex_t lock;
    size_t count;
    int is_create;
    const describer_request *requests;
    item_result *items;
};

static void item_clear(item_result *item) {
    free(item->content_type);
    free(item->data);
    memset(item, 0, sizeof *item);
}

static void set_failure(item_result *item, uint32_t status, const char *message, size_t size) {
    item_clear(item);
    item->kind = DWP_ITEM_FAILURE;
    item->status = status;
    item->content_type = malloc(size + 1);
    if (item->content_type != NULL) {
        memcpy(item->content_type, message, size);
        item->content_type[size] = 0;
        item->text_size = size;
    }
}

static void host_log(describer_call *call, describer_log_level level, const char *message, size_t size) {
    (void)call;
    if (message == NULL) size = 0;
    send_log(level, message ? message : "", size);
}

static uint64_t host_now_ns(void) { return uv_hrtime(); }

/* Set by SIGTERM during create: the host gave up waiting for the instance
 * (a shutdown's grace period is over), so create's `expired` says 1, as it
 * does in the host's own process. */
static volatile sig_atomic_t create_given_up = 0;

static void give_up_create(int signal) {
    (void)signal;
    create_given_up = 1;
}

static int host_expired(describer_call *call, size_t index) {
    if (call == NULL || index >= call->count) return 1;
    if (call->is_create) return create_given_up;
    return uv_hrtime() >= call->requests[index].deadline_ns;
}

static int host_respond(describer_call *call, size_t index, const char *content_type, const uint8_t *data, size_t size) {
    if (call == NULL || call->is_create || index >= call->count) return -1;
    if (data == NULL) size = 0;
    char reason[160];
    int result = 0;
    pthread_mutex_lock(&call->lock);
    item_result *item = &call->items[index];
    if (size > max_output) {
        int length = snprintf(reason, sizeof reason, "output of %zu bytes exceeds output.max_bytes (%zu)", size, max_output);
        set_failure(item, DESCRIBER_STATUS_FAILED, reason, (size_t)length);
        result = -1;
    } else if (content_type != NULL && strnlen(content_type, DESCRIBER_MAX_CONTENT_TYPE + 1) > DESCRIBER_MAX_CONTENT_TYPE) {
        static const char message[] = "the output's content type is longer than 1024 bytes";
        _Static_assert(DESCRIBER_MAX_CONTENT_TYPE == 1024, "the message names the limit");
        set_failure(item, DESCRIBER_STATUS_FAILED, message, sizeof message - 1);
        result = -1;
    } else {
        const char *type = content_type ? content_type : "application/octet-stream";
        size_t type_size = strlen(type);
        char *type_copy = malloc(type_size + 1);
        uint8_t *copy = size ? malloc(size) : NULL;
        if (type_copy == NULL || (size && copy == NULL)) {
            free(type_copy);
            free(copy);
            int length = memory_limit
                ? snprintf(reason, sizeof reason, "the worker could not allocate %zu bytes for this output (process.memory limits it to %llu bytes)", size, memory_limit)
                : snprintf(reason, sizeof reason, "the worker could not allocate %zu bytes for this output", size);
            set_failure(item, DESCRIBER_STATUS_FAILED, reason, (size_t)length);
            result = -1;
        } else {
            memcpy(type_copy, type, type_size + 1);
            if (size) memcpy(copy, data, size);
            item_clear(item);
            item->kind = DWP_ITEM_OUTPUT;
            item->content_type = type_copy;
            item->text_size = type_size;
            item->data = copy;
            item->size = size;
        }
    }
    pthread_mutex_unlock(&call->lock);
    return result;
}

static int host_fail(describer_call *call, size_t index, describer_status status, const char *message, size_t size) {
    if (call == NULL || index >= call->count) return -1;
    if (message == NULL) size = 0;
    if (size > DWP_MAX_LOG) size = DWP_MAX_LOG;
    pthread_mutex_lock(&call->lock);
    set_failure(&call->items[index], status == DESCRIBER_STATUS_OK ? DESCRIBER_STATUS_FAILED : (uint32_t)status,
                message ? message : "", size);
    pthread_mutex_unlock(&call->lock);
    return 0;
}

static const describer_host host_table = {
    .struct_size = sizeof(describer_host),
    .abi_major = DESCRIBER_ABI_VERSION_MAJOR,
    .abi_minor = DESCRIBER_ABI_VERSION_MINOR,
    .log = host_log,
    .expired = host_expired,
    .now_ns = host_now_ns,
    .respond = host_respond,
    .fail = host_fail,
};

/* ---------------------------------------------------------------------------
 * Start-up: limits, loading, info.
 * ------------------------------------------------------------------------- */

static int parse_number(const char *text, long long minimum, long long maximum, long long *out) {
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end || value < minimum || value > maximum) return -1;
    *out = value;
    return 0;
}

static void limit_failed(const char *what, unsigned long long value) {
    char message[256];
    snprintf(message, sizeof message, "cannot apply %s %llu: %s", what, value, strerror(errno));
    send_load_failed(DWP_LOAD_LIMITS, message);
    _exit(DWP_EXIT_LOAD_FAILED);
}

static void set_limit(int resource, rlim_t soft, rlim_t hard, const char *what) {
    struct rlimit limit = {soft, hard};
    if (setrlimit(resource, &limit) != 0) limit_failed(what, (unsigned long long)soft);
}

static void send_info(const describer_function_info *pointer) {
    describer_function_info info;
    memset(&info, 0, sizeof info);
    size_t declared = pointer->struct_size;
    memcpy(&info, pointer, declared < sizeof info ? declared : sizeof info);
    /* Strings are read only when the struct is long enough to hold them. */
    int readable = declared >= offsetof(describer_function_info, reserved_u32);
    const char *name = readable ? info.name : NULL;
    const char *version = readable ? info.version : NULL;
    size_t name_size = name ? strnlen(name, 4096) : 0;
    size_t version_size = version ? strnlen(version, 4096) : 0;
    dwp_info head = {
        .struct_size = info.struct_size,
        .abi_major = info.abi_major,
        .abi_minor = info.abi_minor,
        .capabilities = info.capabilities,
        .input_kind = info.input_kind,
        .max_width = info.max_width,
        .max_height = info.max_height,
        .max_batch_size = info.max_batch_size,
        .has_name = name != NULL,
        .has_version = version != NULL,
        .reserved = 0,
        .name_size = (uint32_t)name_size,
        .version_size = (uint32_t)version_size,
    };
    frame f;
    frame_init(&f);
    frame_bytes(&f, &head, sizeof head);
    frame_bytes(&f, name, name_size);
    frame_bytes(&f, version, version_size);
    frame_send(&f, DWP_FRAME_INFO);
    frame_free(&f);
}

static void usage(void) {
    fprintf(stderr, "usage: describer-worker --library PATH [--info] [--parent PID] [--max-frame BYTES] [--max-output BYTES]\n"
                    "                        [--memory BYTES] [--cpu-seconds N] [--open-files N] [--nice N] [--chdir DIR]\n"
                    "Started by the Describer host with its protocol socket as fd 3; not for interactive use.\n");
    _exit(DWP_EXIT_USAGE);
}

/* The command line, except the limits on frames and outputs, which the
 * callbacks read from globals. */
typedef struct {
    const char *library, *directory;
    int info_only;
    long long parent, cpu_seconds, open_files, niceness;
    int has_nice;
} arguments;

static arguments parse_arguments(int argc, char **argv) {
    arguments a = {0};
    long long value;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--info") == 0) { a.info_only = 1; continue; }
        if (i + 1 >= argc) usage();
        const char *argument = argv[++i];
        if (strcmp(flag, "--library") == 0) a.library = argument;
        else if (strcmp(flag, "--chdir") == 0) a.directory = argument;
        else if (strcmp(flag, "--parent") == 0 && parse_number(argument, 1, INT_MAX, &a.parent) == 0) {}
        else if (strcmp(flag, "--max-frame") == 0 && parse_number(argument, 1024, DWP_MAX_FRAME, &value) == 0) max_frame = (size_t)value;
        else if (strcmp(flag, "--max-output") == 0 && parse_number(argument, 1, LLONG_MAX, &value) == 0) max_output = (size_t)value;
        else if (strcmp(flag, "--memory") == 0 && parse_number(argument, 1, LLONG_MAX, &value) == 0) memory_limit = (unsigned long long)value;
        else if (strcmp(flag, "--cpu-seconds") == 0 && parse_number(argument, 1, LLONG_MAX / 2, &a.cpu_seconds) == 0) {}
        else if (strcmp(flag, "--open-files") == 0 && parse_number(argument, 1, INT_MAX, &a.open_files) == 0) {}
        else if (strcmp(flag, "--nice") == 0 && parse_number(argument, -20, 19, &a.niceness) == 0) a.has_nice = 1;
        else usage();
    }
    if (a.library == NULL) usage();
    return a;
}

/* Ties the worker to the host and its socket before anything of the
 * function's runs. */
static void attach_to_host(const arguments *a) {
    /* A write to a host that has gone fails with EPIPE instead of killing us silently. */
    signal(SIGPIPE, SIG_IGN);
    /* posix_spawn's dup2 cleared close-on-exec on the protocol socket. Set it
     * again, so that a function that runs programs (system, popen) does not
     * hand them the socket: the host notices this worker's death by the
     * socket closing, which a child holding it would prevent. */
    fcntl(DWP_SOCKET_FD, F_SETFD, FD_CLOEXEC);
#ifdef __linux__
    /* Die with the host. The host starts each worker from the thread that
     * supervises it for the worker's whole life, so the parent-death signal
     * (which follows the parent thread) fires only when the host goes. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (a->parent != 0 && getppid() != (pid_t)a->parent) _exit(0);
#else
    (void)a;
#endif
}

/* Applies the limits before the library is opened, so that its own
 * initialisers run under them. No core files: a crashing function is
 * reported by the host, and dumping cores would slow every replacement down. */
static void apply_limits(const arguments *a) {
    set_limit(RLIMIT_CORE, 0, 0, "the core file size limit");
    if (a->directory != NULL && chdir(a->directory) != 0) {
        char message[PATH_MAX + 128];
        snprintf(message, sizeof message, "cannot change to the working directory %s: %s", a->directory, strerror(errno));
        send_load_failed(DWP_LOAD_LIMITS, message);
        _exit(DWP_EXIT_LOAD_FAILED);
    }
    if (a->has_nice) {
        errno = 0;
        if (setpriority(PRIO_PROCESS, 0, (int)a->niceness) != 0) limit_failed("niceness", (unsigned long long)a->niceness);
    }
    if (a->open_files) set_limit(RLIMIT_NOFILE, (rlim_t)a->open_files, (rlim_t)a->open_files, "process.open_files");
    if (memory_limit) set_limit(RLIMIT_AS, (rlim_t)memory_limit, (rlim_t)memory_limit, "process.memory");
    /* SIGXCPU at the soft limit, SIGKILL a second later if it is ignored. */
    if (a->cpu_seconds) set_limit(RLIMIT_CPU, (rlim_t)a->cpu_seconds, (rlim_t)a->cpu_seconds + 1, "process.cpu_seconds");
}

/* ---------------------------------------------------------------------------
 * The conversation: load, create, serve.
 * ------------------------------------------------------------------------- */

/* The library's entry points, once loaded. */
typedef struct {
    create_fn create;
    process_fn process;
    destroy_fn destroy;
} library;

/* Opens the library and sends INFO, or sends LOAD_FAILED and exits. */
static library load_library(const char *path) {
    uv_lib_t handle;
    if (uv_dlopen(path, &handle) != 0) {
        char message[4096];
        const char *reason = uv_dlerror(&handle);
        snprintf(message, sizeof message, "cannot be loaded: %s", reason ? reason : "unknown error");
        send_load_failed(DWP_LOAD_CANNOT_OPEN, message);
        _exit(DWP_EXIT_LOAD_FAILED);
    }
    static const char *const names[4] = {
        "describer_function_get_info", "describer_instance_create", "describer_instance_process",
        "describer_instance_destroy",
    };
    void *symbols[4] = {0};
    char missing[256] = "";
    for (int i = 0; i < 4; i++) {
        if (uv_dlsym(&handle, names[i], &symbols[i]) != 0 || symbols[i] == NULL) {
            if (missing[0]) strcat(missing, ", ");
            strcat(missing, names[i]);
        }
    }
    if (missing[0]) {
        char message[512];
        snprintf(message, sizeof message,
                 "does not export %s; every function exports describer_function_get_info, describer_instance_create, "
                 "describer_instance_process, describer_instance_destroy (see describer_function.h)",
                 missing);
        send_load_failed(DWP_LOAD_MISSING_SYMBOL, message);
        _exit(DWP_EXIT_LOAD_FAILED);
    }
    const describer_function_info *info = ((get_info_fn)symbols[0])();
    if (info == NULL) {
        send_load_failed(DWP_LOAD_BAD_INFO, "returned NULL from describer_function_get_info");
        _exit(DWP_EXIT_LOAD_FAILED);
    }
    send_info(info);
    /* The handle is never closed: the library stays loaded until the worker exits. */
    return (library){(create_fn)symbols[1], (process_fn)symbols[2], (destroy_fn)symbols[3]};
}

/* Waits for CREATE and creates the instance, then sends CREATED; or sends
 * CREATE_FAILED and exits. */
static void *create_instance(const library *lib) {
    frame_in f = read_frame();
    if (f.type != DWP_FRAME_CREATE) protocol_error("expected CREATE");
    const uint8_t *options;
    uint32_t options_size;
    const char *problem = decode_create(f, &options, &options_size);
    if (problem != NULL) protocol_error(problem);
    item_result create_item = {0};
    describer_call create_call = {PTHREAD_MUTEX_INITIALIZER, 1, 1, NULL, &create_item};
    void *instance = NULL;
    /* During create only: afterwards SIGTERM ends the worker as usual. */
    struct sigaction given_up = {0}, usual;
    given_up.sa_handler = give_up_create;
    sigemptyset(&given_up.sa_mask);
    sigaction(SIGTERM, &given_up, &usual);
    uint64_t started = uv_hrtime();
    int rc = lib->create(&host_table, &create_call, (const char *)options, options_size, &instance);
    uint64_t elapsed = uv_hrtime() - started;
    sigaction(SIGTERM, &usual, NULL);
    frame out;
    frame_init(&out);
    if (rc != 0) {
        int has_reason = create_item.kind == DWP_ITEM_FAILURE && create_item.content_type != NULL;
        dwp_create_failed failed = {
            .return_code = rc,
            .status = has_reason ? create_item.status : 0,
            .message_size = has_reason ? (uint32_t)create_item.text_size : 0,
        };
        frame_bytes(&out, &failed, sizeof failed);
        if (has_reason) frame_bytes(&out, create_item.content_type, create_item.text_size);
        frame_send(&out, DWP_FRAME_CREATE_FAILED);
        _exit(DWP_EXIT_CREATE_FAILED);
    }
    item_clear(&create_item);
    dwp_created created = {.create_ns = elapsed};
    frame_bytes(&out, &created, sizeof created);
    frame_send(&out, DWP_FRAME_CREATED);
    frame_free(&out);
    return instance;
}

/* The requests of one batch and their results, kept at the size of the
 * largest batch so far. */
typedef struct {
    describer_request *requests;
    item_result *items;
    size_t capacity;
} batch;

/* Decodes a PROCESS frame into `b` and returns its request count. The
 * requests point into the frame. Exits on a malformed frame. */
static uint32_t decode_batch(frame_in f, batch *b) {
    uint32_t count;
    const char *problem = decode_process_count(f, &count);
    if (problem != NULL) protocol_error(problem);
    if (count > b->capacity) {
        free(b->requests);
        free(b->items);
        b->requests = calloc(count, sizeof *b->requests);
        b->items = calloc(count, sizeof *b->items);
        if (b->requests == NULL || b->items == NULL) _exit(DWP_EXIT_NO_MEMORY);
        b->capacity = count;
    }
    problem = decode_process(f, b->requests, count);
    if (problem != NULL) protocol_error(problem);
    return count;
}

/* Sends the RESULTS of a batch. Outputs and messages travel from the items
 * themselves, without a copy. */
static void send_results(int rc, const item_result *items, uint32_t count) {
    dwp_results head = {.return_code = rc, .count = count};
    frame out;
    frame_init(&out);
    frame_bytes(&out, &head, sizeof head);
    for (uint32_t i = 0; i < count; i++) {
        const item_result *item = &items[i];
        dwp_results_item kind = {.kind = (uint8_t)item->kind, .reserved = {0, 0, 0}};
        frame_bytes(&out, &kind, sizeof kind);
        if (item->kind == DWP_ITEM_OUTPUT) {
            dwp_output output = {.content_type_size = (uint32_t)item->text_size, .data_size = item->size};
            frame_bytes(&out, &output, sizeof output);
            frame_piece(&out, item->content_type, 0, item->text_size);
            frame_piece(&out, item->data, 0, item->size);
        } else if (item->kind == DWP_ITEM_FAILURE) {
            size_t size = item->content_type ? item->text_size : 0;
            dwp_failure failure = {.status = item->status, .message_size = (uint32_t)size};
            frame_bytes(&out, &failure, sizeof failure);
            frame_piece(&out, item->content_type, 0, size);
        }
    }
    if (out.failed) {
        send_logf(DESCRIBER_LOG_ERROR, "the worker ran out of memory assembling the results of %u requests", count);
        _exit(DWP_EXIT_NO_MEMORY);
    }
    frame_send(&out, DWP_FRAME_RESULTS);
    frame_free(&out);
}

/* Runs one batch at a time until DESTROY, which it answers with DESTROYED. */
static void serve_batches(const library *lib, void *instance) {
    batch b = {0};
    for (;;) {
        frame_in f = read_frame();
        if (f.type == DWP_FRAME_DESTROY) {
            lib->destroy(instance);
            frame out;
            frame_init(&out);
            frame_send(&out, DWP_FRAME_DESTROYED);
            return;
        }
        if (f.type != DWP_FRAME_PROCESS) protocol_error("expected PROCESS or DESTROY");
        uint32_t count = decode_batch(f, &b);
        memset(b.items, 0, count * sizeof *b.items);
        describer_call call = {PTHREAD_MUTEX_INITIALIZER, count, 0, b.requests, b.items};
        int rc = lib->process(instance, &call, b.requests, count);
        /* The call is over: later callbacks from stray threads find nothing to
         * change (the function broke the contract; the host ignores them too). */
        pthread_mutex_lock(&call.lock);
        send_results(rc, b.items, count);
        for (uint32_t i = 0; i < count; i++) item_clear(&b.items[i]);
        pthread_mutex_unlock(&call.lock);
    }
}

int main(int argc, char **argv) {
    arguments a = parse_arguments(argc, argv);
    attach_to_host(&a);
    apply_limits(&a);
    library lib = load_library(a.library);
    if (a.info_only) return 0;
    void *instance = create_instance(&lib);
    serve_batches(&lib, instance);
    return 0;
}
