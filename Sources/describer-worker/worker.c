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

static void frame_u8(frame *f, uint8_t v) { frame_bytes(f, &v, 1); }
static void frame_u16(frame *f, uint16_t v) { uint8_t b[2] = {v, v >> 8}; frame_bytes(f, b, 2); }
static void frame_u32(frame *f, uint32_t v) {
    uint8_t b[4] = {v, v >> 8, v >> 16, v >> 24};
    frame_bytes(f, b, 4);
}
static void frame_u64(frame *f, uint64_t v) {
    frame_u32(f, (uint32_t)v);
    frame_u32(f, (uint32_t)(v >> 32));
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
    uint8_t header[DWP_HEADER_SIZE] = {
        (uint8_t)f->total, (uint8_t)(f->total >> 8), (uint8_t)(f->total >> 16), (uint8_t)(f->total >> 24),
        DWP_VERSION, type, 0, 0,
    };
    struct iovec *iov = malloc((f->piece_count + 1) * sizeof *iov);
    if (iov == NULL) _exit(DWP_EXIT_NO_MEMORY);
    iov[0] = (struct iovec){header, sizeof header};
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
    frame f;
    frame_init(&f);
    frame_u32(&f, (uint32_t)level);
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
    frame f;
    frame_init(&f);
    frame_u32(&f, code);
    frame_u32(&f, (uint32_t)strlen(message));
    frame_bytes(&f, message, strlen(message));
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

typedef struct {
    uint8_t type;
    const uint8_t *payload;
    size_t size;
} frame_in;

/* Reads the next frame; its payload stays valid until the next call. Exits at
 * end of file (the host has gone) or on a malformed header. */
static frame_in read_frame(void) {
    if (input_fill(DWP_HEADER_SIZE) != 0) _exit(0);
    const uint8_t *h = input.buffer + input.start;
    size_t length = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
    if (h[4] != DWP_VERSION) {
        fprintf(stderr, "describer-worker: frame version %u, expected %u\n", h[4], DWP_VERSION);
        _exit(DWP_EXIT_PROTOCOL);
    }
    if (length > max_frame) {
        fprintf(stderr, "describer-worker: refusing a frame of %zu bytes (limit %zu)\n", length, max_frame);
        _exit(DWP_EXIT_PROTOCOL);
    }
    uint8_t type = h[5];
    if (input_fill(DWP_HEADER_SIZE + length) != 0) _exit(0);
    frame_in f = {type, input.buffer + input.start + DWP_HEADER_SIZE, length};
    input.start += DWP_HEADER_SIZE + length;
    return f;
}

/* A bounds-checked cursor over a payload. */
typedef struct {
    const uint8_t *p;
    size_t left;
    int bad;
} cursor;

static const uint8_t *take(cursor *c, size_t n) {
    if (c->bad || n > c->left) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

static uint32_t take_u32(cursor *c) {
    const uint8_t *p = take(c, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
}

static uint64_t take_u64(cursor *c) {
    uint64_t low = take_u32(c);
    return low | (uint64_t)take_u32(c) << 32;
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

static int host_expired(describer_call *call, size_t index) {
    if (call == NULL || index >= call->count) return 1;
    /* A create call: the host kills a worker whose create outlives shutdown. */
    if (call->is_create) return 0;
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
    } else if (content_type != NULL && strnlen(content_type, 1025) > 1024) {
        static const char message[] = "the output's content type is longer than 1024 bytes";
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
    frame f;
    frame_init(&f);
    frame_u32(&f, info.struct_size);
    frame_u16(&f, info.abi_major);
    frame_u16(&f, info.abi_minor);
    frame_u32(&f, info.capabilities);
    frame_u32(&f, info.input_kind);
    frame_u32(&f, info.max_width);
    frame_u32(&f, info.max_height);
    frame_u32(&f, info.max_batch_size);
    frame_u8(&f, name != NULL);
    frame_u8(&f, version != NULL);
    frame_u16(&f, 0);
    size_t name_size = name ? strnlen(name, 4096) : 0;
    size_t version_size = version ? strnlen(version, 4096) : 0;
    frame_u32(&f, (uint32_t)name_size);
    frame_u32(&f, (uint32_t)version_size);
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

int main(int argc, char **argv) {
    const char *library = NULL, *directory = NULL;
    int info_only = 0;
    long long parent = 0, value, cpu_seconds = 0, open_files = 0, niceness = 0;
    int has_nice = 0;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--info") == 0) { info_only = 1; continue; }
        if (i + 1 >= argc) usage();
        const char *argument = argv[++i];
        if (strcmp(flag, "--library") == 0) library = argument;
        else if (strcmp(flag, "--chdir") == 0) directory = argument;
        else if (strcmp(flag, "--parent") == 0 && parse_number(argument, 1, INT_MAX, &parent) == 0) {}
        else if (strcmp(flag, "--max-frame") == 0 && parse_number(argument, 1024, DWP_MAX_FRAME, &value) == 0) max_frame = (size_t)value;
        else if (strcmp(flag, "--max-output") == 0 && parse_number(argument, 1, LLONG_MAX, &value) == 0) max_output = (size_t)value;
        else if (strcmp(flag, "--memory") == 0 && parse_number(argument, 1, LLONG_MAX, &value) == 0) memory_limit = (unsigned long long)value;
        else if (strcmp(flag, "--cpu-seconds") == 0 && parse_number(argument, 1, LLONG_MAX / 2, &cpu_seconds) == 0) {}
        else if (strcmp(flag, "--open-files") == 0 && parse_number(argument, 1, INT_MAX, &open_files) == 0) {}
        else if (strcmp(flag, "--nice") == 0 && parse_number(argument, -20, 19, &niceness) == 0) has_nice = 1;
        else usage();
    }
    if (library == NULL) usage();

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
    if (parent != 0 && getppid() != (pid_t)parent) _exit(0);
#endif

    /* Limits first, so that the library's own initialisers run under them. No
     * core files: a crashing function is reported by the host, and dumping
     * cores would slow every replacement down. */
    set_limit(RLIMIT_CORE, 0, 0, "the core file size limit");
    if (directory != NULL && chdir(directory) != 0) {
        char message[PATH_MAX + 128];
        snprintf(message, sizeof message, "cannot change to the working directory %s: %s", directory, strerror(errno));
        send_load_failed(DWP_LOAD_LIMITS, message);
        _exit(DWP_EXIT_LOAD_FAILED);
    }
    if (has_nice) {
        errno = 0;
        if (setpriority(PRIO_PROCESS, 0, (int)niceness) != 0) limit_failed("niceness", (unsigned long long)niceness);
    }
    if (open_files) set_limit(RLIMIT_NOFILE, (rlim_t)open_files, (rlim_t)open_files, "process.open_files");
    if (memory_limit) set_limit(RLIMIT_AS, (rlim_t)memory_limit, (rlim_t)memory_limit, "process.memory");
    /* SIGXCPU at the soft limit, SIGKILL a second later if it is ignored. */
    if (cpu_seconds) set_limit(RLIMIT_CPU, (rlim_t)cpu_seconds, (rlim_t)cpu_seconds + 1, "process.cpu_seconds");

    uv_lib_t handle;
    if (uv_dlopen(library, &handle) != 0) {
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
    get_info_fn get_info = (get_info_fn)symbols[0];
    create_fn create = (create_fn)symbols[1];
    process_fn process = (process_fn)symbols[2];
    destroy_fn destroy = (destroy_fn)symbols[3];
    const describer_function_info *info = get_info();
    if (info == NULL) {
        send_load_failed(DWP_LOAD_BAD_INFO, "returned NULL from describer_function_get_info");
        _exit(DWP_EXIT_LOAD_FAILED);
    }
    send_info(info);
    if (info_only) return 0;

    /* CREATE */
    frame_in f = read_frame();
    if (f.type != DWP_FRAME_CREATE) protocol_error("expected CREATE");
    cursor c = {f.payload, f.size, 0};
    uint32_t options_size = take_u32(&c);
    const uint8_t *options = take(&c, options_size);
    if (c.bad) protocol_error("CREATE");
    item_result create_item = {0};
    describer_call create_call = {PTHREAD_MUTEX_INITIALIZER, 1, 1, NULL, &create_item};
    void *instance = NULL;
    uint64_t started = uv_hrtime();
    int rc = create(&host_table, &create_call, (const char *)options, options_size, &instance);
    uint64_t elapsed = uv_hrtime() - started;
    if (rc != 0) {
        frame out;
        frame_init(&out);
        frame_u32(&out, (uint32_t)rc);
        int has_reason = create_item.kind == DWP_ITEM_FAILURE && create_item.content_type != NULL;
        frame_u32(&out, has_reason ? create_item.status : 0);
        frame_u32(&out, has_reason ? (uint32_t)create_item.text_size : 0);
        if (has_reason) frame_bytes(&out, create_item.content_type, create_item.text_size);
        frame_send(&out, DWP_FRAME_CREATE_FAILED);
        _exit(DWP_EXIT_CREATE_FAILED);
    }
    item_clear(&create_item);
    {
        frame out;
        frame_init(&out);
        frame_u64(&out, elapsed);
        frame_send(&out, DWP_FRAME_CREATED);
        frame_free(&out);
    }

    describer_request *requests = NULL;
    item_result *items = NULL;
    size_t capacity = 0;
    for (;;) {
        f = read_frame();
        if (f.type == DWP_FRAME_DESTROY) {
            destroy(instance);
            frame out;
            frame_init(&out);
            frame_send(&out, DWP_FRAME_DESTROYED);
            return 0;
        }
        if (f.type != DWP_FRAME_PROCESS) protocol_error("expected PROCESS or DESTROY");
        c = (cursor){f.payload, f.size, 0};
        uint32_t count = take_u32(&c);
        /* Every item takes at least 45 bytes, which bounds count by the frame. */
        if (c.bad || count == 0 || count > c.left / 45) protocol_error("PROCESS count");
        if (count > capacity) {
            free(requests);
            free(items);
            requests = calloc(count, sizeof *requests);
            items = calloc(count, sizeof *items);
            if (requests == NULL || items == NULL) _exit(DWP_EXIT_NO_MEMORY);
            capacity = count;
        }
        for (uint32_t i = 0; i < count; i++) {
            describer_request *r = &requests[i];
            memset(r, 0, sizeof *r);
            r->deadline_ns = take_u64(&c);
            r->width = take_u32(&c);
            r->height = take_u32(&c);
            r->stride = take_u32(&c);
            r->source_width = take_u32(&c);
            r->source_height = take_u32(&c);
            uint32_t type_size = take_u32(&c);
            uint32_t request_options_size = take_u32(&c);
            uint64_t data_size = take_u64(&c);
            const uint8_t *type = take(&c, type_size);
            const uint8_t *request_options = take(&c, request_options_size);
            const uint8_t *data = data_size <= c.left ? take(&c, (size_t)data_size) : (c.bad = 1, NULL);
            if (c.bad || type_size == 0 || type[type_size - 1] != 0) protocol_error("PROCESS item");
            r->content_type = (const char *)type;
            r->options_json = (const char *)request_options;
            r->options_size = request_options_size;
            r->data = data_size ? data : NULL;
            r->size = (size_t)data_size;
        }
        if (c.left != 0) protocol_error("PROCESS trailing bytes");
        memset(items, 0, count * sizeof *items);
        describer_call call = {PTHREAD_MUTEX_INITIALIZER, count, 0, requests, items};
        rc = process(instance, &call, requests, count);
        /* The call is over: later callbacks from stray threads find nothing to
         * change (the function broke the contract; the host ignores them too). */
        pthread_mutex_lock(&call.lock);
        frame out;
        frame_init(&out);
        frame_u32(&out, (uint32_t)rc);
        frame_u32(&out, count);
        for (uint32_t i = 0; i < count; i++) {
            item_result *item = &items[i];
            frame_u8(&out, (uint8_t)item->kind);
            frame_u8(&out, 0);
            frame_u16(&out, 0);
            if (item->kind == DWP_ITEM_OUTPUT) {
                frame_u32(&out, (uint32_t)item->text_size);
                frame_u64(&out, item->size);
                frame_piece(&out, item->content_type, 0, item->text_size);
                frame_piece(&out, item->data, 0, item->size);
            } else if (item->kind == DWP_ITEM_FAILURE) {
                size_t size = item->content_type ? item->text_size : 0;
                frame_u32(&out, item->status);
                frame_u32(&out, (uint32_t)size);
                frame_piece(&out, item->content_type, 0, size);
            }
        }
        if (out.failed) {
            send_logf(DESCRIBER_LOG_ERROR, "the worker ran out of memory assembling the results of %u requests", count);
            _exit(DWP_EXIT_NO_MEMORY);
        }
        frame_send(&out, DWP_FRAME_RESULTS);
        frame_free(&out);
        for (uint32_t i = 0; i < count; i++) item_clear(&items[i]);
        pthread_mutex_unlock(&call.lock);
    }
}
