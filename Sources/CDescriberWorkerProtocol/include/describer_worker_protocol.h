/*
 * describer_worker_protocol.h — the framed protocol between the Describer host
 * and a describer-worker process (the `isolation: process` tier), version 1.
 *
 * Shared by the worker (C) and the host (Swift imports the constants), so the
 * two cannot drift. Internal to Describer: function authors never see it; they
 * write against describer_function.h exactly as for the in-process tier.
 *
 * Transport: one AF_UNIX stream socket (a socketpair), which the worker finds
 * as file descriptor DWP_SOCKET_FD. The worker's stdout is the host's stderr,
 * so a function that prints cannot corrupt the protocol.
 *
 * Every frame is an 8-byte header followed by `length` payload bytes:
 *
 *   u32 length    payload bytes after the header, little-endian
 *   u8  version   DWP_VERSION; anything else is refused
 *   u8  type      DWP_FRAME_*
 *   u16 reserved  zero
 *
 * All integers are little-endian. Lengths are checked against the frame before
 * any byte is used, and a frame longer than the receiver's limit (the worker's
 * --max-frame, the host's per-batch bound) is refused before it is allocated:
 * the receiver treats it as a protocol violation and the worker exits (or is
 * killed). No frame is ever longer than DWP_MAX_FRAME.
 *
 * Conversation:
 *
 *   worker -> host  INFO or LOAD_FAILED (then exits)      at start
 *   host -> worker  CREATE                                once
 *   worker -> host  CREATED or CREATE_FAILED (then exits)
 *   host -> worker  PROCESS  ...  worker -> host RESULTS  one batch at a time
 *   host -> worker  DESTROY; worker -> host DESTROYED, then it exits 0
 *   worker -> host  LOG                                   at any time
 *
 * A worker that reads end-of-file exits at once: the host has gone.
 */
#ifndef DESCRIBER_WORKER_PROTOCOL_H
#define DESCRIBER_WORKER_PROTOCOL_H

#include <stdint.h>

#define DWP_VERSION 1
#define DWP_HEADER_SIZE 8
/* The socket's file descriptor in the worker. */
#define DWP_SOCKET_FD 3
/* No frame is longer than this (1 GiB), whatever the limits say. */
#define DWP_MAX_FRAME (1u << 30)
/* Log lines are cut to this many bytes. */
#define DWP_MAX_LOG 8192

enum {
    /* host -> worker */
    /* u32 options_size, options JSON */
    DWP_FRAME_CREATE = 0x01,
    /* u32 count, then per item:
     *   u64 deadline_ns, u32 width, u32 height, u32 stride,
     *   u32 source_width, u32 source_height,
     *   u32 content_type_size, u32 options_size, u64 data_size,
     *   content type (NUL-terminated; the size counts the NUL), options JSON,
     *   data */
    DWP_FRAME_PROCESS = 0x02,
    /* empty */
    DWP_FRAME_DESTROY = 0x03,

    /* worker -> host */
    /* u32 struct_size, u16 abi_major, u16 abi_minor, u32 capabilities,
     * u32 input_kind, u32 max_width, u32 max_height, u32 max_batch_size,
     * u8 has_name, u8 has_version, u16 zero, u32 name_size, u32 version_size,
     * name, version. Only the bytes the library declared in struct_size were
     * read; missing fields are zero. */
    DWP_FRAME_INFO = 0x81,
    /* u32 DWP_LOAD_*, u32 message_size, message */
    DWP_FRAME_LOAD_FAILED = 0x82,
    /* u64 nanoseconds spent in describer_instance_create */
    DWP_FRAME_CREATED = 0x83,
    /* i32 return code, u32 status (0 when the function gave no reason),
     * u32 message_size, message */
    DWP_FRAME_CREATE_FAILED = 0x84,
    /* i32 return code of describer_instance_process, u32 count, then per item
     *   u8 DWP_ITEM_*, u8 zero[3], then
     *   OUTPUT:  u32 content_type_size, u64 data_size, content type, data
     *   FAILURE: u32 describer_status, u32 message_size, message
     *   NONE:    nothing */
    DWP_FRAME_RESULTS = 0x85,
    /* u32 describer_log_level, message (the rest of the payload) */
    DWP_FRAME_LOG = 0x86,
    /* empty */
    DWP_FRAME_DESTROYED = 0x87,
};

enum {
    DWP_ITEM_NONE = 0,
    DWP_ITEM_OUTPUT = 1,
    DWP_ITEM_FAILURE = 2,
};

/* LOAD_FAILED codes, mirroring the host's LibraryLoadError codes. */
enum {
    DWP_LOAD_CANNOT_OPEN = 1,
    DWP_LOAD_MISSING_SYMBOL = 2,
    DWP_LOAD_BAD_INFO = 3,
    DWP_LOAD_LIMITS = 4,        /* a resource limit or the working directory could not be applied */
};

/* The worker's exit statuses besides 0 (destroyed, or the host went away). */
enum {
    DWP_EXIT_USAGE = 64,        /* bad arguments */
    DWP_EXIT_PROTOCOL = 65,     /* a malformed or oversized frame */
    DWP_EXIT_LOAD_FAILED = 66,  /* the library could not be loaded */
    DWP_EXIT_CREATE_FAILED = 67,/* describer_instance_create failed */
    DWP_EXIT_NO_MEMORY = 71,    /* the worker's own allocation failed */
    DWP_EXIT_IO = 74,           /* the socket failed */
};

#endif /* DESCRIBER_WORKER_PROTOCOL_H */
