/*
 * worker_frames.c — describer-worker's frame decoding under the fuzzer.
 *
 * describer-worker is an executable target, which nothing can link against,
 * so its decoding (frames.c: pure functions, no I/O) is compiled here a second
 * time from the same source rather than copied.
 */
#include "../../../Sources/describer-worker/frames.c"

#include "CDescriberFuzz.h"

#include <stdlib.h>

/* The smallest --max-frame the worker accepts: the fuzzer's inputs are far
 * smaller than the default, and a lower limit lets it reach the refusal. */
#define FUZZ_MAX_FRAME 1024

/* Every byte a decoded request points at must lie in the frame's payload. */
static void check_inside(const frame_in *f, const void *pointer, size_t size) {
    const uint8_t *start = pointer;
    if (start == NULL) {
        if (size != 0) abort();
        return;
    }
    if (start < f->payload || size > f->size || (size_t)(start - f->payload) > f->size - size) abort();
}

static void decode(frame_in f) {
    switch (f.type) {
    case DWP_FRAME_CREATE: {
        const uint8_t *options;
        uint32_t options_size;
        if (decode_create(f, &options, &options_size) == NULL) check_inside(&f, options, options_size);
        break;
    }
    case DWP_FRAME_PROCESS: {
        uint32_t count;
        if (decode_process_count(f, &count) != NULL) break;
        describer_request *requests = calloc(count, sizeof *requests);
        if (requests == NULL) abort();
        if (decode_process(f, requests, count) == NULL) {
            for (uint32_t i = 0; i < count; i++) {
                const describer_request *r = &requests[i];
                /* A function reads the content type as a C string. */
                check_inside(&f, r->content_type, strlen(r->content_type) + 1);
                check_inside(&f, r->options_json, r->options_size);
                check_inside(&f, r->data, r->size);
            }
        }
        free(requests);
        break;
    }
    default: /* DESTROY carries nothing; any other type ends the worker. */
        break;
    }
}

void describer_fuzz_worker_frames(const uint8_t *data, size_t size) {
    /* As read_frame in worker.c: a header, its checks, then the payload. */
    while (size >= sizeof(dwp_frame_header)) {
        dwp_frame_header header;
        memcpy(&header, data, sizeof header);
        if (header.version != DWP_VERSION || header.length > FUZZ_MAX_FRAME) return;
        if (size - sizeof header < header.length) return;
        /* A copy of just the payload, so that the sanitizer sees a read past it. */
        uint8_t *payload = malloc(header.length ? header.length : 1);
        if (payload == NULL) abort();
        memcpy(payload, data + sizeof header, header.length);
        decode((frame_in){header.type, payload, header.length});
        free(payload);
        data += sizeof header + header.length;
        size -= sizeof header + header.length;
    }
}
