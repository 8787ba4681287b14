/*
 * png.c — PNG through libpng 1.6.
 *
 * Errors: png_set_error_fn installs error_fn, which records the reason and
 * png_longjmp()s to the setjmp(png_jmpbuf()) in the public function that
 * called into libpng, all inside this file.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void error_fn(png_structp png, png_const_charp message) {
    struct describer_image_decoder *decoder = png_get_error_ptr(png);
    describer_image_status status = DESCRIBER_IMAGE_NOT_AN_IMAGE;
    if (decoder->png_truncated || strcmp(message, "Not enough image data") == 0) {
        status = DESCRIBER_IMAGE_TRUNCATED;
    } else if (strstr(message, "memory") != NULL) {
        /* "Insufficient memory", "Out of memory" and friends. */
        status = DESCRIBER_IMAGE_TOO_LARGE;
    }
    image_fail(decoder, status, "%s", message);
    png_longjmp(png, 1);
}

/* libpng warns about problems it has already recovered from without
 * touching the pixels (a bad sRGB chunk, a CRC error in an ancillary
 * chunk, which it then skips); like a viewer, we carry on. */
static void warning_fn(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void read_fn(png_structp png, png_bytep out, size_t length) {
    struct describer_image_decoder *decoder = png_get_io_ptr(png);
    if (length > decoder->size - decoder->png_offset) {
        decoder->png_truncated = 1;
        png_error(png, "the PNG data ends early");
    }
    memcpy(out, decoder->data + decoder->png_offset, length);
    decoder->png_offset += length;
}

describer_image_status image_png_read_header(struct describer_image_decoder *decoder) {
    decoder->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, decoder, error_fn, warning_fn);
    if (decoder->png == NULL) return image_fail(decoder, DESCRIBER_IMAGE_TOO_LARGE, "out of memory for libpng");
    png_structp png = decoder->png;
    if (setjmp(png_jmpbuf(png))) return decoder->status;
    decoder->png_info = png_create_info_struct(png);
    if (decoder->png_info == NULL) return image_fail(decoder, DESCRIBER_IMAGE_TOO_LARGE, "out of memory for libpng");
    /* libpng's own default refuses sides over 1,000,000 with a message that
     * does not say what the file claimed; the caller applies its pixel
     * limit to the header instead, so allow the format's maximum here. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_chunk_malloc_max(png, IMAGE_PNG_CHUNK_MALLOC_MAX);
    png_set_chunk_cache_max(png, IMAGE_PNG_CHUNK_CACHE_MAX);
    png_set_read_fn(png, decoder, read_fn);
    png_read_info(png, decoder->png_info);

    png_uint_32 width, height;
    int bit_depth, color_type, interlace;
    png_get_IHDR(png, decoder->png_info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    describer_image_header *header = &decoder->header;
    header->width = width;
    header->height = height;
    header->components = png_get_channels(png, decoder->png_info);
    header->bits_per_component = (uint32_t)bit_depth;
    header->progressive = interlace != PNG_INTERLACE_NONE;
#ifdef PNG_eXIf_SUPPORTED
    /* An eXIf chunk before the image data carries the same orientation tag
     * as a JPEG's APP1 (without the "Exif\0\0" prefix). */
    png_uint_32 exif_size = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(png, decoder->png_info, &exif_size, &exif) != 0 && exif != NULL) {
        header->orientation = describer_image_exif_orientation(exif, exif_size);
    }
#endif
    return DESCRIBER_IMAGE_OK;
}

/* Composites one RGBA row onto white: out = c * a + 255 * (1 - a). */
static void composite_on_white(const uint8_t *rgba, uint8_t *rgb, uint32_t width) {
    for (uint32_t x = 0; x < width; x++, rgba += 4, rgb += 3) {
        unsigned alpha = rgba[3], white = 255 * (255 - alpha);
        rgb[0] = (uint8_t)((rgba[0] * alpha + white + 127) / 255);
        rgb[1] = (uint8_t)((rgba[1] * alpha + white + 127) / 255);
        rgb[2] = (uint8_t)((rgba[2] * alpha + white + 127) / 255);
    }
}

describer_image_status image_png_decode(struct describer_image_decoder *decoder) {
    png_structp png = decoder->png;
    png_infop info = decoder->png_info;
    if (setjmp(png_jmpbuf(png))) return decoder->status;
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    /* Everything becomes 8-bit RGB, or RGBA when there is transparency. */
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    /* scale_16 rounds (65535 -> 255 exactly, 0x80ff -> 0x81); strip_16
     * would just drop the low byte. */
    if (bit_depth == 16) png_set_scale_16(png);
    if (!(color_type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    uint32_t width = decoder->plan.decoded_width, height = decoder->plan.decoded_height;
    uint32_t channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (png_get_bit_depth(png, info) != 8 || (channels != 3 && channels != 4) || row_bytes != (size_t)width * channels) {
        return image_fail(decoder, DESCRIBER_IMAGE_UNSUPPORTED, "libpng produced %u channels of %d bits", channels,
                          png_get_bit_depth(png, info));
    }
    decoder->png_channels = channels;

    if (passes > 1) {
        /* Adam7 fills every row on every pass, so the whole image must be in
         * memory; the caller's pixel limit bounds it. */
        size_t pointers = sizeof(png_bytep) * height; /* first, so that they are aligned */
        decoder->whole = malloc(pointers + row_bytes * height);
        if (decoder->whole == NULL) {
            return image_fail(decoder, DESCRIBER_IMAGE_TOO_LARGE, "out of memory for an interlaced %u x %u PNG", width,
                              height);
        }
        png_bytepp rows = (png_bytepp)decoder->whole;
        for (uint32_t y = 0; y < height; y++) rows[y] = decoder->whole + pointers + row_bytes * y;
        png_read_image(png, rows);
        for (uint32_t y = 0; y < height; y++) {
            uint8_t *rgb = image_sink_row(&decoder->sink, y);
            if (channels == 4) composite_on_white(rows[y], rgb, width);
            else memcpy(rgb, rows[y], row_bytes);
            image_sink_commit(&decoder->sink, y);
        }
    } else {
        if (channels == 4) {
            decoder->row = malloc(row_bytes);
            if (decoder->row == NULL) return image_fail(decoder, DESCRIBER_IMAGE_TOO_LARGE, "out of memory for a row");
        }
        for (uint32_t y = 0; y < height; y++) {
            uint8_t *rgb = image_sink_row(&decoder->sink, y);
            png_read_row(png, channels == 4 ? decoder->row : rgb, NULL);
            if (channels == 4) composite_on_white(decoder->row, rgb, width);
            image_sink_commit(&decoder->sink, y);
        }
    }
    /* Not png_read_end: the pixels are complete, and a file that only lacks
     * its IEND chunk is still a whole picture. */
    return DESCRIBER_IMAGE_OK;
}

void image_png_release(struct describer_image_decoder *decoder) {
    if (decoder->png != NULL) {
        png_destroy_read_struct(&decoder->png, decoder->png_info ? &decoder->png_info : NULL, NULL);
        decoder->png = NULL;
        decoder->png_info = NULL;
    }
}
