/*
 * decoder.c — the public entry points: format sniffing, sizing, and the
 * order of the steps. The libraries' work is in jpeg.c and png.c.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

describer_image_status image_fail(struct describer_image_decoder *decoder, describer_image_status status,
                                  const char *format, ...) {
    /* Keep the first reason: a library may report a follow-on error while
     * unwinding, and the first one is what went wrong. */
    if (decoder->status == DESCRIBER_IMAGE_OK) {
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(decoder->message, sizeof decoder->message, format, arguments);
        va_end(arguments);
        decoder->status = status;
    }
    decoder->stage = 3;
    return decoder->status;
}

describer_image_decoder *describer_image_decoder_create(void) {
    return calloc(1, sizeof(struct describer_image_decoder));
}

static void release_buffers(struct describer_image_decoder *decoder) {
    image_sink_release(&decoder->sink);
    free(decoder->row);
    decoder->row = NULL;
    free(decoder->whole);
    decoder->whole = NULL;
    free(decoder->unrotated);
    decoder->unrotated = NULL;
}

void describer_image_decoder_destroy(describer_image_decoder *decoder) {
    if (decoder == NULL) return;
    image_jpeg_release(decoder);
    image_png_release(decoder);
    release_buffers(decoder);
    free(decoder);
}

const char *describer_image_message(const describer_image_decoder *decoder) { return decoder->message; }

describer_image_status describer_image_read_header(describer_image_decoder *decoder, const uint8_t *data, size_t size,
                                                   describer_image_header *header) {
    if (decoder->stage != 0) return image_fail(decoder, DESCRIBER_IMAGE_MISUSE, "read_header called twice");
    decoder->data = data;
    decoder->size = size;
    decoder->header.orientation = 1;
    static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    describer_image_status status;
    if (data != NULL && size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
        decoder->header.format = DESCRIBER_IMAGE_FORMAT_JPEG;
        status = image_jpeg_read_header(decoder);
    } else if (data != NULL && size >= 8 && memcmp(data, png_signature, 8) == 0) {
        decoder->header.format = DESCRIBER_IMAGE_FORMAT_PNG;
        status = image_png_read_header(decoder);
    } else {
        status = image_fail(decoder, DESCRIBER_IMAGE_NOT_AN_IMAGE, "no JPEG or PNG signature");
    }
    /* Filled in even on failure: a refused header still says what it claimed. */
    *header = decoder->header;
    if (status == DESCRIBER_IMAGE_OK) decoder->stage = 1;
    return status;
}

/* The largest size that keeps the aspect ratio, fits box_width x box_height
 * (0 = unbounded) and never enlarges. */
static void fit(uint32_t width, uint32_t height, uint32_t box_width, uint32_t box_height, uint32_t *out_width,
                uint32_t *out_height) {
    if (box_width == 0) box_width = UINT32_MAX;
    if (box_height == 0) box_height = UINT32_MAX;
    if (width <= box_width && height <= box_height) {
        *out_width = width;
        *out_height = height;
        return;
    }
    uint64_t w = width, h = height;
    if (w * box_height >= h * box_width) { /* the width is the binding side */
        uint64_t scaled = (h * box_width + w / 2) / w;
        *out_width = box_width;
        *out_height = (uint32_t)(scaled < 1 ? 1 : scaled > box_height ? box_height : scaled);
    } else {
        uint64_t scaled = (w * box_height + h / 2) / h;
        *out_height = box_height;
        *out_width = (uint32_t)(scaled < 1 ? 1 : scaled > box_width ? box_width : scaled);
    }
}

describer_image_status describer_image_plan_output(describer_image_decoder *decoder, uint32_t max_width,
                                                   uint32_t max_height, int dct_scaling, describer_image_plan *plan) {
    if (decoder->stage != 1) return image_fail(decoder, DESCRIBER_IMAGE_MISUSE, "plan_output needs a header, once");
    const describer_image_header *header = &decoder->header;
    /* The box is given in displayed orientation; orientations 5-8 swap the
     * axes, so fit against the stored image with the box swapped too. */
    int transposed = header->orientation >= 5;
    fit(header->width, header->height, transposed ? max_height : max_width, transposed ? max_width : max_height,
        &decoder->target_width, &decoder->target_height);
    decoder->plan.scale_denom = 1;
    decoder->plan.decoded_width = header->width;
    decoder->plan.decoded_height = header->height;
    if (header->format == DESCRIBER_IMAGE_FORMAT_JPEG) {
        describer_image_status status = image_jpeg_plan(decoder, dct_scaling);
        if (status != DESCRIBER_IMAGE_OK) return status;
    }
    decoder->plan.width = transposed ? decoder->target_height : decoder->target_width;
    decoder->plan.height = transposed ? decoder->target_width : decoder->target_height;
    *plan = decoder->plan;
    decoder->stage = 2;
    return DESCRIBER_IMAGE_OK;
}

describer_image_status describer_image_decode(describer_image_decoder *decoder, uint8_t *pixels, size_t stride,
                                              size_t capacity) {
    if (decoder->stage != 2) return image_fail(decoder, DESCRIBER_IMAGE_MISUSE, "decode needs a plan, once");
    const describer_image_plan *plan = &decoder->plan;
    size_t row_bytes = (size_t)plan->width * 3;
    if (stride < row_bytes || capacity < stride * (plan->height - 1) + row_bytes) {
        return image_fail(decoder, DESCRIBER_IMAGE_MISUSE, "the output buffer is smaller than %u x %u RGB8", plan->width,
                          plan->height);
    }
    uint32_t orientation = decoder->header.orientation;
    uint8_t *destination = pixels;
    size_t destination_stride = stride;
    if (orientation != 1) {
        /* Decode upright first, then transform; the transform cannot run in place. */
        destination_stride = (size_t)decoder->target_width * 3;
        decoder->unrotated = malloc(destination_stride * decoder->target_height);
        if (decoder->unrotated == NULL) {
            return image_fail(decoder, DESCRIBER_IMAGE_TOO_LARGE, "out of memory for a %u x %u image",
                              decoder->target_width, decoder->target_height);
        }
        destination = decoder->unrotated;
    }
    if (image_sink_start(&decoder->sink, plan->decoded_width, plan->decoded_height, decoder->target_width,
                         decoder->target_height, destination, destination_stride) != 0) {
        release_buffers(decoder);
        return image_fail(decoder, DESCRIBER_IMAGE_TOO_LARGE, "out of memory for the resize buffers");
    }
    describer_image_status status = decoder->header.format == DESCRIBER_IMAGE_FORMAT_JPEG
        ? image_jpeg_decode(decoder)
        : image_png_decode(decoder);
    if (status == DESCRIBER_IMAGE_OK && orientation != 1) {
        image_orient(decoder->unrotated, decoder->target_width, decoder->target_height, orientation, pixels, stride);
    }
    release_buffers(decoder);
    decoder->stage = 3;
    return status;
}

void describer_image_fit(uint32_t width, uint32_t height, uint32_t box_width, uint32_t box_height, uint32_t *out_width,
                         uint32_t *out_height) {
    fit(width, height, box_width, box_height, out_width, out_height);
}

describer_image_status describer_image_resize(const uint8_t *source, uint32_t width, uint32_t height,
                                              size_t source_stride, uint8_t *destination, uint32_t out_width,
                                              uint32_t out_height, size_t destination_stride, size_t capacity) {
    if (out_width == 0 || out_height == 0 || out_width > width || out_height > height ||
        destination_stride < (size_t)out_width * 3 || capacity < destination_stride * out_height) {
        return DESCRIBER_IMAGE_TOO_LARGE;
    }
    image_sink sink;
    if (image_sink_start(&sink, width, height, out_width, out_height, destination, destination_stride) != 0) {
        return DESCRIBER_IMAGE_TOO_LARGE;
    }
    for (uint32_t y = 0; y < height; y++) {
        memcpy(image_sink_row(&sink, y), source + source_stride * y, (size_t)width * 3);
        image_sink_commit(&sink, y);
    }
    image_sink_release(&sink);
    return DESCRIBER_IMAGE_OK;
}
