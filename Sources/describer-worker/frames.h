/*
 * frames.h — decoding the frames the host sends describer-worker.
 *
 * Pure functions over a payload already in memory: no I/O, no allocation and
 * no exit, so that the fuzzer (Tests/Fuzzing) runs exactly this code on
 * arbitrary bytes. worker.c reads the frames from the socket and exits with
 * DWP_EXIT_PROTOCOL when one of these says a frame is malformed.
 */
#ifndef DESCRIBER_WORKER_FRAMES_H
#define DESCRIBER_WORKER_FRAMES_H

#include "describer_function.h"
#include "describer_worker_protocol.h"

#include <stddef.h>
#include <stdint.h>

/* One frame as read: its type and its payload, which the caller keeps. */
typedef struct {
    uint8_t type;
    const uint8_t *payload;
    size_t size;
} frame_in;

/* CREATE: the options JSON, pointing into the frame. Returns NULL, or what
 * is malformed. */
const char *decode_create(frame_in f, const uint8_t **options, uint32_t *options_size);

/* PROCESS: the number of requests, at least one and bounded by the frame's
 * size, so that the caller can allocate for them before decoding. Returns
 * NULL, or what is malformed. */
const char *decode_process_count(frame_in f, uint32_t *count);

/* PROCESS: the `count` requests (from decode_process_count) into
 * `requests`, pointing into the frame: each content type is NUL-terminated
 * and every part lies inside the payload. Returns NULL, or what is malformed. */
const char *decode_process(frame_in f, describer_request *requests, uint32_t count);

#endif /* DESCRIBER_WORKER_FRAMES_H */
