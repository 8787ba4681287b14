/*
 * testfn — a test-only function with selectable behaviour, compiled by the
 * test suite with different -D flags for every refusal path of the ABI.
 *
 * Compile-time switches:
 *   TESTFN_ABI_MAJOR / TESTFN_ABI_MINOR   declared ABI version
 *   TESTFN_CAPS                           capability bits
 *   TESTFN_INPUT_KIND, TESTFN_MAX_W/H     declared input
 *   TESTFN_STRUCT_SIZE                    declared struct_size
 *   TESTFN_NULL_INFO                      get_info returns NULL
 *   TESTFN_OMIT_PROCESS                   do not export describer_instance_process
 *   TESTFN_GENERATION                     appends " generation=N" to every output (hot reload)
 *
 * Instance options (manifest `options`): create_fail (bool), create_sleep_ms,
 * create_crash (bool: segfault in describer_instance_create),
 * create_until_expired (bool: create waits, up to a minute, until
 * host->expired(call, 0) says the host gave up on it, then fails saying so),
 * expired_marker (a path: the file create writes when it saw expired).
 * Request options: sleep_ms, stubborn (bool: sleep_ms ignores expired), fail
 * ("invalid", "unsupported", "failed"), silent (bool),
 * misbehave: "segfault", "abort", "exit" (_exit(3)), "hang" (never returns,
 * ignoring expired), "busy" (burns CPU forever), "huge" (a 2 MiB output),
 * "log" (logs one line through the host first), "alloc" (mallocs 1 GiB, aborts
 * when that fails), "long_type" (answers with a 2047-byte content type),
 * "long_error" (fails with a 1 MiB message). The crashing ones are only
 * for functions running in worker processes: in process they take the host
 * (the test runner) down with them.
 * Output: text/plain "instance=I batch=B index=K size=S".
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c11 */

#include "describer_function.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef TESTFN_ABI_MAJOR
#define TESTFN_ABI_MAJOR DESCRIBER_ABI_VERSION_MAJOR
#endif
#ifndef TESTFN_ABI_MINOR
#define TESTFN_ABI_MINOR DESCRIBER_ABI_VERSION_MINOR
#endif
#ifndef TESTFN_CAPS
#define TESTFN_CAPS (DESCRIBER_CAP_BATCH | DESCRIBER_CAP_REENTRANT)
#endif
#ifndef TESTFN_INPUT_KIND
#define TESTFN_INPUT_KIND DESCRIBER_INPUT_BYTES
#endif
#ifndef TESTFN_MAX_W
#define TESTFN_MAX_W 0
#endif
#ifndef TESTFN_MAX_H
#define TESTFN_MAX_H 0
#endif
#ifndef TESTFN_STRUCT_SIZE
#define TESTFN_STRUCT_SIZE sizeof(describer_function_info)
#endif

static const describer_function_info info = {
    .struct_size = TESTFN_STRUCT_SIZE,
    .abi_major = TESTFN_ABI_MAJOR,
    .abi_minor = TESTFN_ABI_MINOR,
    .name = "testfn",
    .version = "0.0.1-test",
    .capabilities = TESTFN_CAPS,
    .input_kind = TESTFN_INPUT_KIND,
    .max_width = TESTFN_MAX_W,
    .max_height = TESTFN_MAX_H,
};

DESCRIBER_EXPORT const describer_function_info *describer_function_get_info(void) {
#ifdef TESTFN_NULL_INFO
    return NULL;
#else
    return &info;
#endif
}

typedef struct { const describer_host *host; int id; } instance_t;
static atomic_int next_id = 1;

static long option_long(const char *json, size_t size, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    size_t length = strlen(pattern);
    for (size_t i = 0; i + length <= size; i++)
        if (memcmp(json + i, pattern, length) == 0) return strtol(json + i + length, NULL, 10);
    return 0;
}

/* A string option without escapes, copied into `out`; 0 when absent. */
static int option_string(const char *json, size_t size, const char *key, char *out, size_t capacity) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    size_t length = strlen(pattern);
    for (size_t i = 0; i + length <= size; i++) {
        if (memcmp(json + i, pattern, length) != 0) continue;
        size_t n = 0;
        for (size_t j = i + length; j < size && json[j] != '"' && n + 1 < capacity; j++) out[n++] = json[j];
        out[n] = 0;
        return 1;
    }
    return 0;
}

static int option_is(const char *json, size_t size, const char *key, const char *value) {
    char pattern[96];
    snprintf(pattern, sizeof pattern, "\"%s\":%s", key, value);
    size_t length = strlen(pattern);
    for (size_t i = 0; i + length <= size; i++)
        if (memcmp(json + i, pattern, length) == 0) return 1;
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

DESCRIBER_EXPORT int describer_instance_create(const describer_host *host, describer_call *call, const char *options,
                                               size_t size, void **out) {
    long delay = option_long(options, size, "create_sleep_ms");
    if (delay > 0) sleep_ms(delay);
    if (option_is(options, size, "create_crash", "true")) {
        volatile int *nowhere = NULL;
        *nowhere = 1;
    }
    if (option_is(options, size, "create_until_expired", "true")) {
        for (int waited = 0; waited < 60000 && !host->expired(call, 0); waited++) sleep_ms(1);
        if (host->expired(call, 0)) {
            char marker[512];
            if (option_string(options, size, "expired_marker", marker, sizeof marker)) {
                FILE *file = fopen(marker, "w");
                if (file != NULL) fclose(file);
            }
            static const char message[] = "create stopped: expired during create";
            host->fail(call, 0, DESCRIBER_STATUS_FAILED, message, sizeof message - 1);
            return 8;
        }
    }
    if (option_is(options, size, "create_fail", "true")) {
        static const char message[] = "create_fail was set";
        host->fail(call, 0, DESCRIBER_STATUS_FAILED, message, sizeof message - 1);
        return 7;
    }
    instance_t *instance = malloc(sizeof *instance);
    instance->host = host;
    instance->id = atomic_fetch_add(&next_id, 1);
    *out = instance;
    return 0;
}

#ifndef TESTFN_OMIT_PROCESS
DESCRIBER_EXPORT int describer_instance_process(void *opaque, describer_call *call, const describer_request *requests,
                                                size_t count) {
    instance_t *instance = opaque;
    const describer_host *host = instance->host;
    for (size_t i = 0; i < count; i++) {
        const describer_request *r = describer_request_at(requests, i);
        const char *o = r->options_json;
        size_t os = r->options_size;
        if (option_is(o, os, "misbehave", "\"log\"")) {
            static const char line[] = "testfn says hello";
            host->log(call, DESCRIBER_LOG_INFO, line, sizeof line - 1);
        }
        if (option_is(o, os, "misbehave", "\"segfault\"")) {
            volatile int *nowhere = NULL;
            *nowhere = 1;
        }
        if (option_is(o, os, "misbehave", "\"abort\"")) abort();
        if (option_is(o, os, "misbehave", "\"exit\"")) _exit(3);
        if (option_is(o, os, "misbehave", "\"hang\"")) for (;;) sleep_ms(10);
        if (option_is(o, os, "misbehave", "\"busy\"")) {
            volatile unsigned long spins = 0;
            for (;;) spins++;
        }
        if (option_is(o, os, "misbehave", "\"alloc\"")) {
            /* 1 GiB, which a worker under process.memory cannot get: abort like most code does. */
            char *block = malloc((size_t)1 << 30);
            if (block == NULL) abort();
            block[0] = 1;
            free(block);
        }
        if (option_is(o, os, "misbehave", "\"long_type\"")) {
            char type[2048];
            memset(type, 't', sizeof type - 1);
            type[sizeof type - 1] = 0;
            host->respond(call, i, type, (const uint8_t *)"x", 1);
            continue;
        }
        if (option_is(o, os, "misbehave", "\"long_error\"")) {
            size_t length = 1u << 20;
            char *message = malloc(length);
            memset(message, 'e', length);
            host->fail(call, i, DESCRIBER_STATUS_FAILED, message, length);
            free(message);
            continue;
        }
        if (option_is(o, os, "misbehave", "\"huge\"")) {
            size_t huge = 2u << 20;
            uint8_t *bytes = calloc(1, huge);
            host->respond(call, i, "application/octet-stream", bytes, huge);
            free(bytes);
            continue;
        }
        long delay = option_long(r->options_json, r->options_size, "sleep_ms");
        /* Sleep in small steps, stopping early once the host says the deadline
         * passed, unless stubborn. */
        int stubborn = option_is(r->options_json, r->options_size, "stubborn", "true");
        while (delay > 0 && (stubborn || !host->expired(call, i))) {
            sleep_ms(delay < 10 ? delay : 10);
            delay -= 10;
        }
        if (option_is(r->options_json, r->options_size, "silent", "true")) continue;
        if (option_is(r->options_json, r->options_size, "fail", "\"invalid\"")) {
            host->fail(call, i, DESCRIBER_STATUS_INVALID_INPUT, "asked to fail: invalid", 22);
            continue;
        }
        if (option_is(r->options_json, r->options_size, "fail", "\"unsupported\"")) {
            host->fail(call, i, DESCRIBER_STATUS_UNSUPPORTED, "asked to fail: unsupported", 26);
            continue;
        }
        if (option_is(r->options_json, r->options_size, "fail", "\"failed\"")) {
            host->fail(call, i, DESCRIBER_STATUS_FAILED, "asked to fail: failed", 21);
            continue;
        }
        char output[128];
        int length = snprintf(output, sizeof output, "instance=%d batch=%zu index=%zu size=%zu", instance->id, count, i,
                              r->size);
#ifdef TESTFN_GENERATION
        length += snprintf(output + length, sizeof output - (size_t)length, " generation=%d", TESTFN_GENERATION);
#endif
        host->respond(call, i, "text/plain", (const uint8_t *)output, (size_t)length);
    }
    return 0;
}
#endif

DESCRIBER_EXPORT void describer_instance_destroy(void *opaque) { free(opaque); }
