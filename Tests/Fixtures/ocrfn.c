/*
 * ocrfn — a test-only stand-in for `ocr`, for the describer's ordering
 * tests: it answers, for any photo, OCR-shaped JSON made from its instance
 * options, so a test decides what "was read" and how much of the photo it
 * covers:
 *
 *   options: {"text": "…", "text_coverage": 0.4, "low_confidence": false}
 *   answer:  {"text": "…", "text_coverage": 0.4,
 *             "lines": [{"text": "…", "confidence": 0.9|0.3, "box": […], "low_confidence": false|true}],
 *             "blocks": []}
 *
 * It reads the photo's bytes (input kind BYTES) and ignores them.
 */
#include "describer_function.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const describer_function_info info = {
    .struct_size = sizeof(describer_function_info),
    .abi_major = DESCRIBER_ABI_VERSION_MAJOR,
    .abi_minor = DESCRIBER_ABI_VERSION_MINOR,
    .name = "ocrfn",
    .version = "0.0.1-test",
    .capabilities = DESCRIBER_CAP_BATCH,
    .input_kind = DESCRIBER_INPUT_BYTES,
};

typedef struct ocrfn {
    const describer_host *host;
    char *answer;
    size_t size;
} ocrfn;

DESCRIBER_EXPORT const describer_function_info *describer_function_get_info(void) { return &info; }

/* The raw (still JSON-escaped) bytes of a string option in the host's canonical JSON. */
static const char *string_option(const char *json, size_t size, const char *key, size_t *length) {
    char pattern[64];
    int n = snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    for (size_t i = 0; i + (size_t)n <= size; i++) {
        if (memcmp(json + i, pattern, (size_t)n) != 0) continue;
        const char *start = json + i + n;
        const char *p = start;
        while (p < json + size && *p != '"') p += *p == '\\' ? 2 : 1;
        *length = (size_t)(p - start);
        return start;
    }
    *length = 0;
    return "";
}

static double number_option(const char *json, size_t size, const char *key) {
    char pattern[64];
    int n = snprintf(pattern, sizeof pattern, "\"%s\":", key);
    for (size_t i = 0; i + (size_t)n <= size; i++) {
        if (memcmp(json + i, pattern, (size_t)n) == 0) return strtod(json + i + n, NULL);
    }
    return 0;
}

DESCRIBER_EXPORT int describer_instance_create(const describer_host *host, describer_call *call, const char *options,
                                               size_t size, void **out) {
    ocrfn *instance = calloc(1, sizeof *instance);
    size_t text_size;
    const char *text = string_option(options, size, "text", &text_size);
    bool low = memmem(options, size, "\"low_confidence\":true", 21) != NULL;
    double coverage = number_option(options, size, "text_coverage");
    size_t capacity = 2 * text_size + 256;
    instance->answer = malloc(capacity);
    if (instance->answer == NULL) {
        free(instance);
        host->fail(call, 0, DESCRIBER_STATUS_FAILED, "out of memory", 13);
        return 1;
    }
    instance->host = host;
    instance->size = (size_t)snprintf(
        instance->answer, capacity,
        "{\"text\":\"%.*s\",\"text_coverage\":%.3f,\"lines\":[{\"text\":\"%.*s\",\"confidence\":%s,"
        "\"box\":[[0,0],[1,0],[1,1],[0,1]],\"low_confidence\":%s}],\"blocks\":[]}",
        (int)text_size, text, coverage, (int)text_size, text, low ? "0.3" : "0.9", low ? "true" : "false");
    *out = instance;
    return 0;
}

DESCRIBER_EXPORT int describer_instance_process(void *opaque, describer_call *call, const describer_request *requests,
                                                size_t count) {
    (void)requests;
    ocrfn *instance = opaque;
    for (size_t i = 0; i < count; i++) {
        instance->host->respond(call, i, "application/json", (const uint8_t *)instance->answer, instance->size);
    }
    return 0;
}

DESCRIBER_EXPORT void describer_instance_destroy(void *opaque) {
    ocrfn *instance = opaque;
    free(instance->answer);
    free(instance);
}
