/*
 * resize.c — a streaming area-average (box filter) downscale.
 *
 * Rows arrive one at a time from libjpeg or libpng and are folded into at
 * most two output rows, so the full-size image never exists in memory: only
 * one input row and three output rows of floats. Each input pixel covers
 * out/in of an output pixel; its colour is shared between the (at most two)
 * output pixels it overlaps, in proportion to the overlap. That weights
 * every input pixel by the area it contributes, which is the classic
 * antialiased "area" shrink. Positions are compared as integers (in units of
 * 1/in), so the row and column boundaries are exact.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int image_sink_start(image_sink *sink, uint32_t in_width, uint32_t in_height, uint32_t out_width,
                     uint32_t out_height, uint8_t *destination, size_t stride) {
    memset(sink, 0, sizeof *sink);
    sink->in_width = in_width;
    sink->in_height = in_height;
    sink->out_width = out_width;
    sink->out_height = out_height;
    sink->destination = destination;
    sink->stride = stride;
    sink->resizing = in_width != out_width || in_height != out_height;
    if (!sink->resizing) return 0;

    size_t floats = (size_t)out_width * 3;
    sink->column_index = malloc(sizeof(uint32_t) * in_width);
    sink->column_weight = malloc(sizeof(float) * in_width);
    sink->accumulator = calloc(floats, sizeof(float));
    sink->carry = calloc(floats, sizeof(float));
    sink->horizontal = malloc(sizeof(float) * floats);
    sink->scratch = malloc((size_t)in_width * 3);
    if (!sink->column_index || !sink->column_weight || !sink->accumulator || !sink->carry || !sink->horizontal ||
        !sink->scratch) {
        image_sink_release(sink);
        return -1;
    }
    for (uint32_t x = 0; x < in_width; x++) {
        uint64_t start = (uint64_t)x * out_width, end = start + out_width;
        uint32_t column = (uint32_t)(start / in_width);
        uint64_t boundary = (uint64_t)(column + 1) * in_width;
        sink->column_index[x] = column;
        sink->column_weight[x] = (float)((end <= boundary ? end : boundary) - start) / (float)in_width;
    }
    return 0;
}

uint8_t *image_sink_row(image_sink *sink, uint32_t y) {
    return sink->resizing ? sink->scratch : sink->destination + sink->stride * y;
}

static void emit(image_sink *sink) {
    uint8_t *out = sink->destination + sink->stride * sink->output_row;
    float *accumulator = sink->accumulator;
    size_t count = (size_t)sink->out_width * 3;
    for (size_t i = 0; i < count; i++) {
        float value = accumulator[i] + 0.5f;
        out[i] = value >= 255.0f ? 255 : value <= 0.0f ? 0 : (uint8_t)value;
    }
    /* The carried-over row becomes the current one; the old one is reused. */
    memset(accumulator, 0, count * sizeof(float));
    sink->accumulator = sink->carry;
    sink->carry = accumulator;
    sink->output_row++;
}

void image_sink_commit(image_sink *sink, uint32_t y) {
    (void)y;
    if (!sink->resizing) return;
    uint32_t in_width = sink->in_width, out_width = sink->out_width;
    float share = (float)out_width / (float)in_width; /* what one input pixel covers */

    /* Horizontal: each input pixel into the one or two columns it overlaps. */
    float *horizontal = sink->horizontal;
    memset(horizontal, 0, sizeof(float) * out_width * 3);
    const uint8_t *pixel = sink->scratch;
    for (uint32_t x = 0; x < in_width; x++, pixel += 3) {
        float *column = horizontal + (size_t)sink->column_index[x] * 3;
        float first = sink->column_weight[x], rest = share - first;
        column[0] += first * pixel[0];
        column[1] += first * pixel[1];
        column[2] += first * pixel[2];
        if (rest > 0.0f) {
            column[3] += rest * pixel[0];
            column[4] += rest * pixel[1];
            column[5] += rest * pixel[2];
        }
    }

    /* Vertical: the resized row into the output row(s) it overlaps. */
    uint64_t in_height = sink->in_height, out_height = sink->out_height;
    uint64_t start = (uint64_t)sink->input_row * out_height, end = start + out_height;
    uint64_t boundary = (uint64_t)(sink->output_row + 1) * in_height;
    size_t count = (size_t)out_width * 3;
    float *accumulator = sink->accumulator;
    if (end < boundary) {
        float weight = (float)out_height / (float)in_height;
        for (size_t i = 0; i < count; i++) accumulator[i] += weight * horizontal[i];
    } else {
        float first = (float)(boundary - start) / (float)in_height;
        float rest = (float)(end - boundary) / (float)in_height;
        float *carry = sink->carry;
        for (size_t i = 0; i < count; i++) {
            accumulator[i] += first * horizontal[i];
            carry[i] += rest * horizontal[i];
        }
        emit(sink);
    }
    sink->input_row++;
}

void image_sink_release(image_sink *sink) {
    free(sink->column_index);
    free(sink->column_weight);
    free(sink->accumulator);
    free(sink->carry);
    free(sink->horizontal);
    free(sink->scratch);
    sink->column_index = NULL;
    sink->column_weight = NULL;
    sink->accumulator = NULL;
    sink->carry = NULL;
    sink->horizontal = NULL;
    sink->scratch = NULL;
}
