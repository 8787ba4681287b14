/*
 * rgbfn — a test-only function that takes decoded RGB8 input and answers
 * with what it received, so the tests can check the host's decoding:
 *
 *   text/plain "WxH stride=S size=N type=T first=R,G,B"
 *
 * Compile-time switches: RGBFN_MAX_W / RGBFN_MAX_H, the box it declares
 * (default 256 x 256). It takes batches.
 */
#include "describer_function.h"

#include <stdio.h>
#include <string.h>

#ifndef RGBFN_MAX_W
#define RGBFN_MAX_W 256
#endif
#ifndef RGBFN_MAX_H
#define RGBFN_MAX_H 256
#endif

static const describer_function_info info = {
    .struct_size = sizeof(describer_function_info),
    .abi_major = DESCRIBER_ABI_VERSION_MAJOR,
    .abi_minor = DESCRIBER_ABI_VERSION_MINOR,
    .name = "rgbfn",
    .version = "0.0.1-test",
    .capabilities = DESCRIBER_CAP_BATCH,
    .input_kind = DESCRIBER_INPUT_RGB8,
    .max_width = RGBFN_MAX_W,
    .max_height = RGBFN_MAX_H,
};

DESCRIBER_EXPORT const describer_function_info *describer_function_get_info(void) { return &info; }

DESCRIBER_EXPORT int describer_instance_create(const describer_host *host, describer_call *call, const char *options,
                                               size_t size, void **out) {
    (void)call;
    (void)options;
    (void)size;
    *out = (void *)host;
    return 0;
}

DESCRIBER_EXPORT int describer_instance_process(void *instance, describer_call *call, const describer_request *requests,
                                                size_t count) {
    const describer_host *host = instance;
    for (size_t i = 0; i < count; i++) {
        const describer_request *r = describer_request_at(requests, i);
        /* The geometry must describe the buffer exactly, or this would read past it. */
        if (r->width == 0 || r->height == 0 || r->stride < r->width * 3 || r->size < (size_t)r->stride * r->height) {
            static const char message[] = "inconsistent RGB8 geometry";
            host->fail(call, i, DESCRIBER_STATUS_INVALID_INPUT, message, sizeof message - 1);
            continue;
        }
        char output[256];
        int length = snprintf(output, sizeof output, "%ux%u stride=%u size=%zu type=%s first=%u,%u,%u", r->width,
                              r->height, r->stride, r->size, r->content_type, r->data[0], r->data[1], r->data[2]);
        host->respond(call, i, "text/plain", (const uint8_t *)output, (size_t)length);
    }
    return 0;
}

DESCRIBER_EXPORT void describer_instance_destroy(void *instance) { (void)instance; }
