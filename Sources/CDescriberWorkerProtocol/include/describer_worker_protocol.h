/*
 * describer_worker_protocol.h — the framed protocol between the Describer host
 * and a describer-worker process (the `isolation: process` tier), version 1.
 *
 * Shared by the worker (C) and the host (Swift imports the constants and the
 * structs), so the two cannot drift. Internal to Describer: function authors
 * never see it; they write against describer_function.h exactly as for the
 * in-process tier.
 *
 * Transport: one AF_UNIX stream socket (a socketpair), which the worker finds
 * as file descriptor DWP_SOCKET_FD. The worker's stdout is the host's stderr,
 * so a function that prints cannot corrupt the protocol.
 *
 * Every frame is a dwp_frame_header followed by `length` payload bytes. The
 * structs below are the fixed-size parts of each frame exactly as they travel:
 * no padding, every size asserted, all integers little-endian. They are the
 * wire layout only on a little-endian host, which is all Describer supports,
 * so this header refuses to compile anywhere else rather than let a reader
 * memcpy a frame into a struct and get swapped bytes. Variable-length parts
 * (strings, options JSON, data) follow their struct, sized by its fields.
 *
 * Lengths are checked against the frame before any byte is used, and a frame
 * longer than the receiver's limit (the worker's --max-frame, the host's
 * per-batch bound) is refused before it is allocated: the receiver treats it
 * as a protocol violation and the worker exits (or is killed). No frame is
 * ever longer than DWP_MAX_FRAME.
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

#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the worker protocol's structs are its wire layout only on a little-endian host"
#endif

#define DWP_VERSION 1
#define DWP_HEADER_SIZE 8
/* The socket's file descriptor in the worker. */
#define DWP_SOCKET_FD 3
/* No frame is longer than this (1 GiB), whatever the limits say. */
#define DWP_MAX_FRAME (1u << 30)
/* Log lines are cut to this many bytes. */
#define DWP_MAX_LOG 8192 /* DESCRIBER_MAX_MESSAGE; worker.c asserts they agree */

enum {
    /* host -> worker */
    DWP_FRAME_CREATE = 0x01,        /* dwp_create */
    DWP_FRAME_PROCESS = 0x02,       /* dwp_process */
    DWP_FRAME_DESTROY = 0x03,       /* empty */

    /* worker -> host */
    DWP_FRAME_INFO = 0x81,          /* dwp_info */
    DWP_FRAME_LOAD_FAILED = 0x82,   /* dwp_load_failed */
    DWP_FRAME_CREATED = 0x83,       /* dwp_created */
    DWP_FRAME_CREATE_FAILED = 0x84, /* dwp_create_failed */
    DWP_FRAME_RESULTS = 0x85,       /* dwp_results */
    DWP_FRAME_LOG = 0x86,           /* dwp_log */
    DWP_FRAME_DESTROYED = 0x87,     /* empty */
};

/* Starts every frame. */
typedef struct dwp_frame_header {
    uint32_t length;   /* payload bytes after the header */
    uint8_t version;   /* DWP_VERSION; anything else is refused */
    uint8_t type;      /* DWP_FRAME_* */
    uint16_t reserved; /* zero */
} dwp_frame_header;
_Static_assert(sizeof(dwp_frame_header) == DWP_HEADER_SIZE, "dwp_frame_header is the whole header");

/* CREATE: followed by the options JSON. */
typedef struct dwp_create {
    uint32_t options_size;
} dwp_create;
_Static_assert(sizeof(dwp_create) == 4, "dwp_create has no padding");

/* PROCESS: followed by `count` requests, each a dwp_process_item and its
 * variable parts. */
typedef struct dwp_process {
    uint32_t count;
} dwp_process;
_Static_assert(sizeof(dwp_process) == 4, "dwp_process has no padding");

/* One request of a PROCESS frame, followed by its content type (NUL-terminated,
 * and content_type_size counts the NUL), its options JSON and its data.
 * data_size sits at an offset that is a multiple of four but not of eight, so
 * the struct is packed; aligned(4) keeps its other fields naturally aligned. */
typedef struct __attribute__((packed, aligned(4))) dwp_process_item {
    uint64_t deadline_ns;
    /* The decoded image for an rgb8 function; zero for encoded input. */
    uint32_t width;
    uint32_t height;
    uint32_t stride;
    uint32_t source_width;
    uint32_t source_height;
    uint32_t content_type_size;
    uint32_t options_size;
    uint64_t data_size;
} dwp_process_item;
_Static_assert(sizeof(dwp_process_item) == 44, "dwp_process_item has no padding");
_Static_assert(offsetof(dwp_process_item, data_size) == 36, "dwp_process_item.data_size follows options_size");

/* INFO: the library's describer_function_info, followed by the name and the
 * version. Only the bytes the library declared in struct_size were read;
 * missing fields are zero. */
typedef struct dwp_info {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t capabilities;
    uint32_t input_kind;
    uint32_t max_width;
    uint32_t max_height;
    uint32_t max_batch_size;
    /* A NULL string and an empty one differ to the validation. */
    uint8_t has_name;
    uint8_t has_version;
    uint16_t reserved;
    uint32_t name_size;
    uint32_t version_size;
} dwp_info;
_Static_assert(sizeof(dwp_info) == 40, "dwp_info has no padding");

/* LOAD_FAILED: followed by the message; the worker then exits. */
typedef struct dwp_load_failed {
    uint32_t code; /* DWP_LOAD_* */
    uint32_t message_size;
} dwp_load_failed;
_Static_assert(sizeof(dwp_load_failed) == 8, "dwp_load_failed has no padding");

/* CREATED. */
typedef struct dwp_created {
    uint64_t create_ns; /* spent in describer_instance_create */
} dwp_created;
_Static_assert(sizeof(dwp_created) == 8, "dwp_created has no padding");

/* CREATE_FAILED: followed by the message; the worker then exits. */
typedef struct dwp_create_failed {
    int32_t return_code;
    uint32_t status; /* describer_status; zero when the function gave no reason */
    uint32_t message_size;
} dwp_create_failed;
_Static_assert(sizeof(dwp_create_failed) == 12, "dwp_create_failed has no padding");

/* RESULTS: followed by `count` items, one per request of the PROCESS frame,
 * each a dwp_results_item and what its kind carries. */
typedef struct dwp_results {
    int32_t return_code; /* of describer_instance_process */
    uint32_t count;
} dwp_results;
_Static_assert(sizeof(dwp_results) == 8, "dwp_results has no padding");

/* What a RESULTS item carries. */
enum {
    DWP_ITEM_NONE = 0,
    DWP_ITEM_OUTPUT = 1,
    DWP_ITEM_FAILURE = 2,
};

/* One result: a DWP_ITEM_OUTPUT is followed by a dwp_output, a
 * DWP_ITEM_FAILURE by a dwp_failure, a DWP_ITEM_NONE by nothing. */
typedef struct dwp_results_item {
    uint8_t kind;
    uint8_t reserved[3];
} dwp_results_item;
_Static_assert(sizeof(dwp_results_item) == 4, "dwp_results_item has no padding");

/* An answer: followed by its content type (no NUL) and its data. Packed for
 * the same reason as dwp_process_item. */
typedef struct __attribute__((packed, aligned(4))) dwp_output {
    uint32_t content_type_size;
    uint64_t data_size;
} dwp_output;
_Static_assert(sizeof(dwp_output) == 12, "dwp_output has no padding");
_Static_assert(offsetof(dwp_output, data_size) == 4, "dwp_output.data_size follows content_type_size");

/* A failed request: followed by the message. */
typedef struct dwp_failure {
    uint32_t status; /* describer_status */
    uint32_t message_size;
} dwp_failure;
_Static_assert(sizeof(dwp_failure) == 8, "dwp_failure has no padding");

/* LOG: followed by the line, which is the rest of the payload. */
typedef struct dwp_log {
    uint32_t level; /* describer_log_level */
} dwp_log;
_Static_assert(sizeof(dwp_log) == 4, "dwp_log has no padding");

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
