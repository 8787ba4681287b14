/*
 * frames.c — decoding the frames the host sends; see frames.h.
 */
#include "frames.h"

#include <string.h>

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

/* Copies the next `size` bytes into the protocol struct at `out`, or zeroes
 * it when they are missing, so that a caller checks `bad` once at the end. */
static void take_struct(cursor *c, void *out, size_t size) {
    const uint8_t *p = take(c, size);
    if (p != NULL) memcpy(out, p, size);
    else memset(out, 0, size);
}

const char *decode_create(frame_in f, const uint8_t **options, uint32_t *options_size) {
    cursor c = {f.payload, f.size, 0};
    dwp_create head;
    take_struct(&c, &head, sizeof head);
    *options = take(&c, head.options_size);
    *options_size = head.options_size;
    return c.bad ? "CREATE" : NULL;
}

const char *decode_process_count(frame_in f, uint32_t *count) {
    cursor c = {f.payload, f.size, 0};
    dwp_process head;
    take_struct(&c, &head, sizeof head);
    *count = head.count;
    /* Every request takes its fixed part and at least the NUL of its content
     * type, which bounds count by the frame before anything is allocated. */
    if (c.bad || head.count == 0 || head.count > c.left / (sizeof(dwp_process_item) + 1)) return "PROCESS count";
    return NULL;
}

const char *decode_process(frame_in f, describer_request *requests, uint32_t count) {
    cursor c = {f.payload, f.size, 0};
    dwp_process head;
    take_struct(&c, &head, sizeof head);
    if (c.bad || head.count != count) return "PROCESS count";
    for (uint32_t i = 0; i < count; i++) {
        dwp_process_item item;
        take_struct(&c, &item, sizeof item);
        const uint8_t *type = take(&c, item.content_type_size);
        const uint8_t *options = take(&c, item.options_size);
        const uint8_t *data = item.data_size <= c.left ? take(&c, (size_t)item.data_size) : (c.bad = 1, NULL);
        if (c.bad || item.content_type_size == 0 || type[item.content_type_size - 1] != 0) return "PROCESS item";
        describer_request *r = &requests[i];
        memset(r, 0, sizeof *r);
        r->struct_size = sizeof *r;
        r->deadline_ns = item.deadline_ns;
        r->width = item.width;
        r->height = item.height;
        r->stride = item.stride;
        r->source_width = item.source_width;
        r->source_height = item.source_height;
        r->content_type = (const char *)type;
        r->options_json = (const char *)options;
        r->options_size = item.options_size;
        r->data = item.data_size ? data : NULL;
        r->size = (size_t)item.data_size;
    }
    if (c.left != 0) return "PROCESS trailing bytes";
    return NULL;
}
