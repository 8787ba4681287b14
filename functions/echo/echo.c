/*
 * echo — the smallest complete Describer function. Copy this folder to start
 * your own: it shows every hook of the ABI (describer_function.h), instance
 * options from the manifest, per-request options, batching, deadline checks
 * and logging through the host.
 *
 * It answers each request with its own body, optionally upper-cased
 * (?upper=true) and repeated (?repeat=N), prefixed with the manifest's
 * `options.prefix`.
 */
#include "describer_function.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Everything an instance needs. Allocated in create, freed in destroy. */
typedef struct echo_instance {
    const describer_host *host;
    char *prefix;
    size_t prefix_size;
} echo_instance;

static const describer_function_info echo_info = {
    .struct_size = sizeof(describer_function_info),
    .abi_major = DESCRIBER_ABI_VERSION_MAJOR,
    .abi_minor = DESCRIBER_ABI_VERSION_MINOR,
    .name = "echo",
    .version = "1.0.0",
    /* Instances hold no mutable state after create, so one instance may
     * serve several batches at once, and several requests per call. */
    .capabilities = DESCRIBER_CAP_BATCH | DESCRIBER_CAP_REENTRANT,
    .input_kind = DESCRIBER_INPUT_BYTES,
    .max_batch_size = 0,
};

DESCRIBER_EXPORT const describer_function_info *describer_function_get_info(void) { return &echo_info; }

/* The host serialises options canonically: one JSON object, no insignificant
 * whitespace, keys sorted, values typed by the manifest. So a flat lookup of
 * `"key":` is reliable for simple values; functions with richer options
 * should use a real JSON parser. Returns a pointer just past the colon. */
static const char *json_value(const char *json, size_t size, const char *key) {
    size_t key_size = strlen(key);
    for (size_t i = 0; i + key_size + 3 <= size; i++) {
        if (json[i] == '"' && memcmp(json + i + 1, key, key_size) == 0 && json[i + 1 + key_size] == '"' &&
            json[i + 2 + key_size] == ':') {
            return json + i + 3 + key_size;
        }
    }
    return NULL;
}

/* Copies a JSON string value without escapes into a new allocation. */
static char *json_plain_string(const char *value, const char *end, size_t *out_size) {
    if (value == NULL || value >= end || *value != '"') return NULL;
    const char *start = value + 1;
    const char *stop = memchr(start, '"', (size_t)(end - start));
    if (stop == NULL || memchr(start, '\\', (size_t)(stop - start)) != NULL) return NULL;
    char *copy = malloc((size_t)(stop - start) + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, start, (size_t)(stop - start));
    copy[stop - start] = '\0';
    *out_size = (size_t)(stop - start);
    return copy;
}

DESCRIBER_EXPORT int describer_instance_create(const describer_host *host, describer_call *call,
                                               const char *options_json, size_t options_size,
                                               void **out_instance) {
    echo_instance *instance = calloc(1, sizeof *instance);
    if (instance == NULL) {
        static const char message[] = "out of memory";
        host->fail(call, 0, DESCRIBER_STATUS_FAILED, message, sizeof message - 1);
        return 1;
    }
    instance->host = host;
    const char *prefix = json_value(options_json, options_size, "prefix");
    if (prefix != NULL) {
        instance->prefix = json_plain_string(prefix, options_json + options_size, &instance->prefix_size);
        if (instance->prefix == NULL) {
            static const char message[] = "options.prefix must be a string without escapes";
            host->fail(call, 0, DESCRIBER_STATUS_INVALID_INPUT, message, sizeof message - 1);
            free(instance);
            return 1;
        }
    }
    static const char hello[] = "echo instance created";
    host->log(call, DESCRIBER_LOG_DEBUG, hello, sizeof hello - 1);
    *out_instance = instance;
    return 0;
}

static void echo_one(echo_instance *instance, describer_call *call, size_t index, const describer_request *request) {
    const describer_host *host = instance->host;
    const char *end = request->options_json + request->options_size;
    const char *upper = json_value(request->options_json, request->options_size, "upper");
    int uppercase = upper != NULL && end - upper >= 4 && memcmp(upper, "true", 4) == 0;
    const char *repeat_value = json_value(request->options_json, request->options_size, "repeat");
    long repeat = repeat_value != NULL ? strtol(repeat_value, NULL, 10) : 1;
    if (repeat < 1) repeat = 1; /* the manifest bounds it; never trust it blindly */

    size_t size = instance->prefix_size + request->size * (size_t)repeat;
    uint8_t *output = malloc(size > 0 ? size : 1);
    if (output == NULL) {
        static const char message[] = "out of memory";
        host->fail(call, index, DESCRIBER_STATUS_FAILED, message, sizeof message - 1);
        return;
    }
    if (instance->prefix_size > 0) memcpy(output, instance->prefix, instance->prefix_size);
    uint8_t *cursor = output + instance->prefix_size;
    for (long copy = 0; copy < repeat; copy++) {
        /* Long work checks the deadline now and then; the host has already
         * answered the caller once it has passed. */
        if (host->expired(call, index)) {
            static const char message[] = "deadline passed while echoing";
            host->fail(call, index, DESCRIBER_STATUS_DEADLINE, message, sizeof message - 1);
            free(output);
            return;
        }
        for (size_t i = 0; i < request->size; i++) {
            uint8_t byte = request->data[i];
            *cursor++ = uppercase ? (uint8_t)toupper(byte) : byte;
        }
    }
    /* The host copies the output before respond returns. */
    host->respond(call, index, request->content_type, output, size);
    free(output);
}

DESCRIBER_EXPORT int describer_instance_process(void *opaque, describer_call *call, const describer_request *requests,
                                                size_t count) {
    echo_instance *instance = opaque;
    for (size_t i = 0; i < count; i++) echo_one(instance, call, i, describer_request_at(requests, i));
    return 0;
}

DESCRIBER_EXPORT void describer_instance_destroy(void *opaque) {
    echo_instance *instance = opaque;
    if (instance == NULL) return;
    free(instance->prefix);
    free(instance);
}
