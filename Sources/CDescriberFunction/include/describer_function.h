/*
 * describer_function.h — the Describer function ABI, version 1.2.
 *
 * This header is the whole contract between the Describer function host and a
 * function: a native shared library that the host loads once (it is never
 * unloaded), asks for its capabilities, and then drives through instances.
 * It is plain C99 with no dependencies, so functions can be written in C,
 * C++, Rust, Zig or Swift (`@c` / `@_cdecl`).
 *
 * Naming: hooks that the function exports are `describer_*` symbols; calls the
 * host offers the function are members of `describer_host` (function pointers,
 * so the host binary does not need to export symbols).
 *
 * OWNERSHIP notes on every pointer say who owns the memory and how long it
 * stays valid. Rule of thumb: the host owns everything it passes in, valid only
 * for the duration of the call; the function never frees host memory; whatever
 * the function hands back through a host callback is copied before the
 * callback returns, so the function may free or reuse it immediately.
 *
 * Versioning: a function declares the ABI version it was compiled against in
 * its `describer_function_info`. The host accepts it when the major versions
 * are equal and the function's minor version is not newer than the host's
 * (additive changes bump the minor version; anything else bumps the major).
 * Structs grow only by appending fields, and each says its own size:
 * describer_function_info and describer_host carry `struct_size`, and so does
 * every describer_request from 1.2 on (read requests with
 * describer_request_at, below, and a later host's longer requests still
 * work). Minor versions so far: 1.0; 1.1 added the request's source size;
 * 1.2 its struct_size.
 *
 * JSON from the host (the instance's options in create, each request's
 * options in process) is canonical: one UTF-8 object, no whitespace outside
 * strings, keys sorted by their UTF-8 bytes, each key once; strings escape
 * only `"`, `\` and control characters (\n, \r, \t, any other as \u00xx in
 * lower-case hex), everything else is literal UTF-8; numbers are integers
 * when the manifest or YAML typed them so, otherwise the shortest decimal
 * that reads back exactly (0.5, 1e-05), and null for a non-finite one.
 * It is not necessarily NUL-terminated: use the size passed with it.
 *
 * Lifecycle, driven by the host:
 *
 *   describer_function_get_info()          once, at load, on any thread
 *   describer_instance_create(...)         per instance (a cold start)
 *   describer_instance_process(...)        many times, one batch per call
 *   describer_instance_destroy(...)        when the instance is idle too long
 *                                          or the host shuts down
 *
 * All of an instance's calls happen on threads the host owns for that
 * instance, never on an async runtime's shared pool, so a function may block.
 * Unless the function declares DESCRIBER_CAP_REENTRANT, the host never calls
 * into one instance from two threads at once; with it, the host may run up to
 * the manifest's `concurrency` batches on one instance at the same time.
 */
#ifndef DESCRIBER_FUNCTION_H
#define DESCRIBER_FUNCTION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DESCRIBER_EXPORT __attribute__((visibility("default")))
#else
#define DESCRIBER_EXPORT
#endif

/* ---------------------------------------------------------------------------
 * Version and capabilities
 * ------------------------------------------------------------------------- */

#define DESCRIBER_ABI_VERSION_MAJOR 1
#define DESCRIBER_ABI_VERSION_MINOR 2

/* The longest output content type (bytes, without the NUL) the host takes:
 * a longer one fails its item. The longest message of host->fail and
 * host->log: a longer one is cut to this many bytes. The same on both
 * isolation tiers. */
#define DESCRIBER_MAX_CONTENT_TYPE 1024
#define DESCRIBER_MAX_MESSAGE 8192

/* Capability bits for describer_function_info.capabilities. */
enum {
    /* describer_instance_process accepts more than one request per call. */
    DESCRIBER_CAP_BATCH = 1u << 0,
    /* One instance may process several batches concurrently from different
     * threads. Without this bit the host serialises calls per instance. */
    DESCRIBER_CAP_REENTRANT = 1u << 1,
};
/* Every capability bit this version of the ABI defines. A library that sets
 * any other bit is refused: it expects behaviour this host does not have. */
#define DESCRIBER_CAP_KNOWN_MASK (DESCRIBER_CAP_BATCH | DESCRIBER_CAP_REENTRANT)

/* What the function wants as the input of each request. */
typedef enum describer_input_kind {
    /* The request body exactly as received, with its content type. */
    DESCRIBER_INPUT_BYTES = 0,
    /* Decoded, orientation-corrected 8-bit RGB pixels, downscaled by the host
     * to fit max_width x max_height. */
    DESCRIBER_INPUT_RGB8 = 1,
} describer_input_kind;

/* The function's self-description, returned by describer_function_get_info().
 * Modelled on PostgreSQL's PG_MODULE_MAGIC: a function, not a data symbol,
 * because dlsym is only guaranteed to work on functions. */
typedef struct describer_function_info {
    /* sizeof(describer_function_info) as the function was compiled. Lets a
     * newer host read an older struct safely. */
    uint32_t struct_size;
    uint16_t abi_major;           /* DESCRIBER_ABI_VERSION_MAJOR */
    uint16_t abi_minor;           /* DESCRIBER_ABI_VERSION_MINOR */
    /* OWNERSHIP: function; static storage, valid for the life of the process.
     * NUL-terminated UTF-8. `name` is informational (the manifest names the
     * function); `version` is the function's own version string. */
    const char *name;
    const char *version;
    uint32_t capabilities;        /* DESCRIBER_CAP_* bits */
    uint32_t input_kind;          /* describer_input_kind */
    /* For DESCRIBER_INPUT_RGB8: the largest image the function wants. The
     * host downscales larger images (keeping the aspect ratio) before the
     * call. Both must be > 0 for RGB8 and are ignored for BYTES. */
    uint32_t max_width;
    uint32_t max_height;
    /* The largest batch the function accepts in one call; 0 means no limit
     * of its own. The host never exceeds min(this, manifest max_batch_size).
     * Ignored without DESCRIBER_CAP_BATCH (batches are then always 1). */
    uint32_t max_batch_size;
    /* Reserved for additive growth; set to zero. */
    uint32_t reserved_u32[7];
    void *reserved_ptr[4];
} describer_function_info;

/* ---------------------------------------------------------------------------
 * Requests, statuses and the host's callbacks
 * ------------------------------------------------------------------------- */

/* Per-item status a function reports through describer_host.fail. The host
 * maps each to an HTTP status for callers. */
typedef enum describer_status {
    DESCRIBER_STATUS_OK = 0,
    DESCRIBER_STATUS_INVALID_INPUT = 1,    /* 400: the input or an option is wrong */
    DESCRIBER_STATUS_UNSUPPORTED = 2,      /* 415: content type or format not handled */
    DESCRIBER_STATUS_TOO_LARGE = 3,        /* 413: input larger than the function handles */
    DESCRIBER_STATUS_DEADLINE = 4,         /* 504: stopped because the deadline passed */
    DESCRIBER_STATUS_FAILED = 5,           /* 502: anything else went wrong */
} describer_status;

typedef enum describer_log_level {
    DESCRIBER_LOG_DEBUG = 0,
    DESCRIBER_LOG_INFO = 1,
    DESCRIBER_LOG_WARNING = 2,
    DESCRIBER_LOG_ERROR = 3,
} describer_log_level;

/* One request in a batch.
 * OWNERSHIP: host, including every pointer inside; valid until
 * describer_instance_process returns. The function must not keep pointers
 * into it afterwards. */
typedef struct describer_request {
    /* The input. For BYTES: the request body. For RGB8: width * height rows
     * of `stride` bytes, 3 bytes per pixel (R, G, B). May be NULL when size is
     * 0. */
    const uint8_t *data;
    size_t size;
    /* NUL-terminated media type of `data` ("image/jpeg", "text/plain; charset=utf-8",
     * or "application/x-describer-rgb8" for RGB8 input). Never NULL. */
    const char *content_type;
    /* Per-request options as a UTF-8 JSON object (never NULL, at least "{}"),
     * already validated by the host against the manifest's request_options.
     * Not NUL-terminated: use options_size. */
    const char *options_json;
    size_t options_size;
    /* Absolute deadline on CLOCK_MONOTONIC, in nanoseconds. The host answers
     * the caller with a timeout at this instant whether or not the function
     * has finished, so long-running work should poll describer_host.expired. */
    uint64_t deadline_ns;
    /* For RGB8 input: the image geometry. Zero for BYTES. */
    uint32_t width;
    uint32_t height;
    uint32_t stride;
    /* For RGB8 input (ABI 1.1): the size of the picture as the caller sent
     * it, upright after its EXIF orientation, before the host scaled it down
     * to fit the function's box; so that a function can report positions in
     * the caller's pixels. Zero for BYTES, and from a 1.0 host. */
    uint32_t source_width;
    uint32_t source_height;
    /* (ABI 1.2) The distance in bytes from this request to the next in the
     * batch: sizeof(describer_request) as the host lays the batch out. A
     * later minor version may append fields, so read request i with
     * describer_request_at(requests, i) rather than requests[i]. Zero from a
     * host older than 1.2, whose requests are exactly this size. (A host lays
     * a batch out in the size of the function's declared minor version, so
     * requests[i] keeps working in functions built before a field was
     * appended.) */
    uint32_t struct_size;
    void *reserved_ptr[2];
} describer_request;

/* Request `index` of the batch starting at `requests`, whatever size of
 * describer_request the host was built with. */
static inline const describer_request *describer_request_at(const describer_request *requests, size_t index) {
    size_t stride = requests->struct_size != 0 ? requests->struct_size : sizeof(describer_request);
    return (const describer_request *)(const void *)((const char *)requests + index * stride);
}

/* An opaque token for one host call (one create or one process call).
 * OWNERSHIP: host; valid only until the describer_* call it was passed to
 * returns. Pass it back to describer_host callbacks, from any thread, during
 * that call. */
typedef struct describer_call describer_call;

/* The host's services. Every callback is thread-safe.
 * OWNERSHIP: host; the table itself stays valid for the life of the process
 * (a function may keep the pointer it received in describer_instance_create). */
typedef struct describer_host {
    /* sizeof(describer_host) as the host was compiled; fields beyond the
     * size a function knows about must not be touched, and newer fields are
     * only appended. */
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* Writes one log line attributed to this function and instance.
     * `message` need not be NUL-terminated. OWNERSHIP: caller's; copied. */
    void (*log)(describer_call *call, describer_log_level level, const char *message, size_t size);

    /* Returns 1 when request `index` of this call has passed its deadline (or
     * its caller has gone away) and work on it should stop, 0 otherwise.
     * During create (index 0), on both isolation tiers, it returns 0 until
     * the host gives up waiting for the instance, when a shutdown's grace
     * period is over, and 1 from then on. A create has no deadline of its
     * own; a slow one (a model loading) may poll this to stop early. With
     * `isolation: process`, a worker whose create has not returned a moment
     * after that is killed. */
    int (*expired)(describer_call *call, size_t index);

    /* The current CLOCK_MONOTONIC time in nanoseconds, the clock of
     * describer_request.deadline_ns. */
    uint64_t (*now_ns)(void);

    /* Sets the successful output of request `index`. `content_type` is a
     * NUL-terminated media type; `data` may be NULL when size is 0.
     * OWNERSHIP: caller's; both are copied before the callback returns.
     * Calling it again for the same index replaces the earlier answer.
     * Returns 0 on success, -1 when index is out of range or the output is
     * larger than the function's output limit (the item then fails). */
    int (*respond)(describer_call *call, size_t index, const char *content_type, const uint8_t *data,
                   size_t size);

    /* Fails request `index` with a status other than DESCRIBER_STATUS_OK and a
     * human-readable reason shown to the caller. For create calls (index 0)
     * it sets the reason the instance could not be created.
     * OWNERSHIP: caller's; copied. Returns 0, or -1 when index is out of range. */
    int (*fail)(describer_call *call, size_t index, describer_status status, const char *message,
                size_t size);

    void *reserved[8];
} describer_host;

/* ---------------------------------------------------------------------------
 * Hooks the function exports (all four are required)
 * ------------------------------------------------------------------------- */

/* Returns the function's self-description. Called once, before anything else.
 * OWNERSHIP: function; the returned struct must stay valid and unchanged for
 * the life of the process (static storage). */
DESCRIBER_EXPORT const describer_function_info *describer_function_get_info(void);

/* Creates an instance.
 *   host          the host's services; valid for the life of the process.
 *   call          this call's token, for host->log and host->fail.
 *   options_json  the manifest's `options` table (after deployment overrides)
 *                 as a UTF-8 JSON object, not NUL-terminated; "{}" if none.
 *                 OWNERSHIP: host; valid until this call returns (copy what
 *                 you keep).
 *   out_instance  where to store the instance pointer. OWNERSHIP: function;
 *                 the host hands it back to process and destroy and never
 *                 dereferences it. NULL is a valid instance.
 * Returns 0 on success. On failure returns non-zero, should explain why with
 * host->fail(call, 0, DESCRIBER_STATUS_FAILED or _INVALID_INPUT, ...), and must
 * have released anything it allocated; destroy is not called. */
DESCRIBER_EXPORT int describer_instance_create(const describer_host *host, describer_call *call,
                                               const char *options_json, size_t options_size,
                                               void **out_instance);

/* Processes a batch of `count` requests (count >= 1; count == 1 unless the
 * function declared DESCRIBER_CAP_BATCH).
 *   requests  OWNERSHIP: host; valid until this call returns.
 * For every index the function calls host->respond or host->fail (from any
 * thread, before returning). An index left unanswered fails with 502 and
 * "the function returned no result for this request". The return value is 0, or non-zero to fail
 * every unanswered item at once (the instance is still reused). */
DESCRIBER_EXPORT int describer_instance_process(void *instance, describer_call *call,
                                                const describer_request *requests, size_t count);

/* Destroys an instance. No call on it is in progress or will follow. */
DESCRIBER_EXPORT void describer_instance_destroy(void *instance);

#ifdef __cplusplus
}
#endif

#endif /* DESCRIBER_FUNCTION_H */
