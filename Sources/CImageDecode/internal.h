/*
 * internal.h — the decoder state shared by the JPEG, PNG, resize and
 * orientation parts of CImageDecode. Not part of the public header.
 */
#ifndef C_IMAGE_DECODE_INTERNAL_H
#define C_IMAGE_DECODE_INTERNAL_H

#include "CImageDecode.h"

#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t declared first */
#include <stddef.h>

#include <jpeglib.h>
#include <png.h>

/* More progressive scans than any real encoder writes (libjpeg's own
 * "max" scan script has a few dozen); each scan re-walks the whole
 * coefficient buffer, so a file with thousands of tiny scans is a CPU bomb.
 * djpeg's -maxscans and TurboJPEG's TJPARAM_SCANLIMIT exist for the same reason. */
#define IMAGE_MAX_SCANS 500

/* libpng's own limits on ancillary chunks (text, ICC profiles), stated
 * explicitly rather than relying on the build's defaults: a small file can
 * otherwise inflate a compressed chunk to gigabytes. */
#define IMAGE_PNG_CHUNK_MALLOC_MAX (8u << 20)
#define IMAGE_PNG_CHUNK_CACHE_MAX 256u

/* The longjmp target shared with libjpeg's error manager. The first member
 * must be libjpeg's struct: libjpeg hands back a pointer to it. */
typedef struct image_jpeg_error {
    struct jpeg_error_mgr base;
    struct jpeg_progress_mgr progress;
    struct describer_image_decoder *decoder;
    jmp_buf jump;
} image_jpeg_error;

/* Where decoded rows go: straight into the destination, or through the
 * streaming area resize first. */
typedef struct image_sink {
    uint32_t in_width, in_height;   /* rows as they come out of the library */
    uint32_t out_width, out_height; /* after the resize (stored orientation) */
    uint8_t *destination;           /* out_height rows of `stride` bytes */
    size_t stride;
    int resizing;
    /* Resize state: horizontal mapping per input column, the current output
     * row being accumulated, the one after it, and a scratch row. */
    uint32_t *column_index;  /* output column that input column x starts in */
    float *column_weight;    /* its share in that column; the rest goes to the next */
    float *accumulator;      /* out_width * 3, output row `row` */
    float *carry;            /* out_width * 3, output row `row + 1` */
    float *horizontal;       /* out_width * 3, the current input row resized */
    uint8_t *scratch;        /* in_width * 3, one input row */
    uint32_t input_row;
    uint32_t output_row;
} image_sink;

struct describer_image_decoder {
    int stage; /* 0 created, 1 header read, 2 planned, 3 finished or failed */
    describer_image_header header;
    describer_image_plan plan;
    /* The output size before the orientation transform (stored orientation). */
    uint32_t target_width, target_height;
    describer_image_status status;
    char message[JMSG_LENGTH_MAX + 160];

    const uint8_t *data;
    size_t size;

    /* JPEG */
    int jpeg_created;
    struct jpeg_decompress_struct jpeg;
    image_jpeg_error jpeg_error;
    int jpeg_inverted_cmyk;

    /* PNG */
    png_structp png;
    png_infop png_info;
    size_t png_offset;
    int png_truncated;
    uint32_t png_channels; /* after the transforms: 3 (RGB) or 4 (RGBA) */

    /* Buffers owned by the decoder so that an error's longjmp cannot leak them. */
    image_sink sink;
    uint8_t *row;        /* one library row (CMYK, RGBA) before conversion */
    uint8_t *whole;      /* interlaced PNG: the whole decoded image */
    uint8_t *unrotated;  /* the image before the orientation transform */
};

/* Records a failure and returns `status`. printf-style. */
describer_image_status image_fail(struct describer_image_decoder *decoder, describer_image_status status,
                                  const char *format, ...) __attribute__((format(printf, 3, 4)));

describer_image_status image_jpeg_read_header(struct describer_image_decoder *decoder);
describer_image_status image_jpeg_plan(struct describer_image_decoder *decoder, int dct_scaling);
describer_image_status image_jpeg_decode(struct describer_image_decoder *decoder);
void image_jpeg_release(struct describer_image_decoder *decoder);

describer_image_status image_png_read_header(struct describer_image_decoder *decoder);
describer_image_status image_png_decode(struct describer_image_decoder *decoder);
void image_png_release(struct describer_image_decoder *decoder);

/* Sets up the sink for rows of in_width x in_height written as out_width x
 * out_height into `destination`. Returns 0, or -1 when out of memory. */
int image_sink_start(image_sink *sink, uint32_t in_width, uint32_t in_height, uint32_t out_width,
                     uint32_t out_height, uint8_t *destination, size_t stride);
/* Where the library should write input row `y` (RGB8, in_width pixels). */
uint8_t *image_sink_row(image_sink *sink, uint32_t y);
/* Consumes the row written at image_sink_row(sink, y). */
void image_sink_commit(image_sink *sink, uint32_t y);
void image_sink_release(image_sink *sink);

/* Writes `source` (width x height, tightly packed RGB8, stored orientation)
 * into `destination` transformed by EXIF `orientation`. */
void image_orient(const uint8_t *source, uint32_t width, uint32_t height, uint32_t orientation,
                  uint8_t *destination, size_t stride);

#endif
