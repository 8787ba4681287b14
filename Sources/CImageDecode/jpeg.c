/*
 * jpeg.c — JPEG through libjpeg-turbo's libjpeg API.
 *
 * Errors: libjpeg's error manager is replaced. error_exit (fatal errors) and
 * emit_message (warnings we treat as fatal) record the reason and longjmp to
 * the setjmp in the public function that called into libjpeg; both live in
 * this file, so the jump never leaves C. The default error_exit, which
 * calls exit(), is never used.
 */
#include "internal.h"

#include <jerror.h>
#include <stdlib.h>
#include <string.h>

static describer_image_status classify_error(int code) {
    switch (code) {
    case JERR_IMAGE_TOO_BIG:   /* beyond libjpeg's 65500-pixel sides */
    case JERR_WIDTH_OVERFLOW:
    case JERR_OUT_OF_MEMORY:
        return DESCRIBER_IMAGE_TOO_LARGE;
    case JERR_BAD_PRECISION:   /* 12- or 16-bit samples: this libjpeg build decodes 8-bit only */
    case JERR_SOF_UNSUPPORTED: /* lossless or hierarchical processes */
    case JERR_NOT_COMPILED:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_ARITH_NOTIMPL:
        return DESCRIBER_IMAGE_UNSUPPORTED;
    case JERR_INPUT_EMPTY:
    case JERR_INPUT_EOF:
        return DESCRIBER_IMAGE_TRUNCATED;
    default:
        return DESCRIBER_IMAGE_NOT_AN_IMAGE;
    }
}

static void error_exit(j_common_ptr common) {
    image_jpeg_error *error = (image_jpeg_error *)common->err;
    struct describer_image_decoder *decoder = error->decoder;
    int code = error->base.msg_code;
    if (code == JERR_IMAGE_TOO_BIG) {
        /* get_sof stored the claimed size before initial_setup refused it;
         * the caller reports that size rather than libjpeg's generic text. */
        j_decompress_ptr jpeg = (j_decompress_ptr)common;
        decoder->header.width = jpeg->image_width;
        decoder->header.height = jpeg->image_height;
    }
    char text[JMSG_LENGTH_MAX];
    error->base.format_message(common, text);
    image_fail(decoder, classify_error(code), "%s", text);
    longjmp(error->jump, 1);
}

/* Warnings (level -1) that mean the pixels would be wrong. libjpeg carries
 * on after them, filling the rest of the image with grey or garbage; we
 * refuse instead, so that a function never describes half an image. Other
 * warnings (extraneous bytes between markers, an unknown JFIF revision, a
 * bad ICC chunk) leave the pixels intact and are ignored, as every viewer
 * does. */
static void emit_message(j_common_ptr common, int level) {
    if (level >= 0) return; /* trace messages */
    image_jpeg_error *error = (image_jpeg_error *)common->err;
    describer_image_status status;
    switch (error->base.msg_code) {
    case JWRN_JPEG_EOF: /* jpeg_mem_src ran out of data and inserted a fake EOI */
        status = DESCRIBER_IMAGE_TRUNCATED;
        break;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
        status = DESCRIBER_IMAGE_NOT_AN_IMAGE;
        break;
    default:
        error->base.num_warnings++;
        return;
    }
    char text[JMSG_LENGTH_MAX];
    error->base.format_message(common, text);
    image_fail(error->decoder, status, "%s", text);
    longjmp(error->jump, 1);
}

static void progress(j_common_ptr common) {
    j_decompress_ptr jpeg = (j_decompress_ptr)common;
    if (jpeg->input_scan_number > IMAGE_MAX_SCANS) {
        image_jpeg_error *error = (image_jpeg_error *)common->err;
        image_fail(error->decoder, DESCRIBER_IMAGE_TOO_LARGE, "the JPEG has more than %d progressive scans",
                   IMAGE_MAX_SCANS);
        longjmp(error->jump, 1);
    }
}

describer_image_status image_jpeg_read_header(struct describer_image_decoder *decoder) {
    image_jpeg_error *error = &decoder->jpeg_error;
    struct jpeg_decompress_struct *jpeg = &decoder->jpeg;
    jpeg->err = jpeg_std_error(&error->base);
    error->base.error_exit = error_exit;
    error->base.emit_message = emit_message;
    error->decoder = decoder;
    error->progress.progress_monitor = progress;
    if (setjmp(error->jump)) return decoder->status;
    /* Marked first: jpeg_destroy copes with a half-created struct. */
    decoder->jpeg_created = 1;
    jpeg_create_decompress(jpeg);
    jpeg->progress = &error->progress;
    jpeg_mem_src(jpeg, decoder->data, (unsigned long)decoder->size);
    /* APP1 holds EXIF; a segment is at most 65533 bytes, so this is bounded
     * by the segment count, which the input's byte limit bounds. */
    jpeg_save_markers(jpeg, JPEG_APP0 + 1, 0xFFFF);
    if (jpeg_read_header(jpeg, TRUE) != JPEG_HEADER_OK) {
        return image_fail(decoder, DESCRIBER_IMAGE_NOT_AN_IMAGE, "the JPEG holds only tables, no image");
    }
    describer_image_header *header = &decoder->header;
    header->width = jpeg->image_width;
    header->height = jpeg->image_height;
    header->components = (uint32_t)jpeg->num_components;
    header->bits_per_component = (uint32_t)jpeg->data_precision;
    header->progressive = jpeg->progressive_mode ? 1 : 0;
    for (jpeg_saved_marker_ptr marker = jpeg->marker_list; marker != NULL; marker = marker->next) {
        if (marker->marker == JPEG_APP0 + 1 && marker->data_length >= 6 && memcmp(marker->data, "Exif\0\0", 6) == 0) {
            /* The first Exif segment is the one readers honour. */
            header->orientation = describer_image_exif_orientation(marker->data + 6, marker->data_length - 6);
            break;
        }
    }
    /* Photoshop, the main source of CMYK JPEGs, writes an Adobe marker and
     * stores the channels inverted; files without the marker are plain. */
    decoder->jpeg_inverted_cmyk = jpeg->saw_Adobe_marker;
    return DESCRIBER_IMAGE_OK;
}

describer_image_status image_jpeg_plan(struct describer_image_decoder *decoder, int dct_scaling) {
    struct jpeg_decompress_struct *jpeg = &decoder->jpeg;
    if (setjmp(decoder->jpeg_error.jump)) return decoder->status;
    int cmyk = jpeg->jpeg_color_space == JCS_CMYK || jpeg->jpeg_color_space == JCS_YCCK;
    /* libjpeg converts YCCK to CMYK; CMYK to RGB is done here. Grey, YCbCr
     * and RGB all come out as RGB directly (libjpeg-turbo expands grey). */
    jpeg->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    unsigned int denom = 1;
    if (dct_scaling) {
        /* The largest reduction whose output still covers the target: the
         * IDCT then skips work for free, and the area resize that follows
         * only shrinks by less than 2x, which keeps it sharp. */
        static const unsigned int candidates[] = {8, 4, 2};
        for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
            jpeg->scale_num = 1;
            jpeg->scale_denom = candidates[i];
            jpeg_calc_output_dimensions(jpeg);
            if (jpeg->output_width >= decoder->target_width && jpeg->output_height >= decoder->target_height) {
                denom = candidates[i];
                break;
            }
        }
    }
    jpeg->scale_num = 1;
    jpeg->scale_denom = denom;
    jpeg_calc_output_dimensions(jpeg);
    decoder->plan.scale_denom = denom;
    decoder->plan.decoded_width = jpeg->output_width;
    decoder->plan.decoded_height = jpeg->output_height;
    /* A scaled size rounds up, so it can never fall below the target; the
     * target is at most the full size. */
    if (decoder->target_width > jpeg->output_width) decoder->target_width = jpeg->output_width;
    if (decoder->target_height > jpeg->output_height) decoder->target_height = jpeg->output_height;
    return DESCRIBER_IMAGE_OK;
}

static inline uint8_t multiply(unsigned a, unsigned b) { return (uint8_t)((a * b + 127) / 255); }

static void cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, uint32_t width, int inverted) {
    for (uint32_t x = 0; x < width; x++, cmyk += 4, rgb += 3) {
        unsigned c = cmyk[0], m = cmyk[1], y = cmyk[2], k = cmyk[3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        /* Now every value is "255 - ink": R = (1 - C)(1 - K). */
        rgb[0] = multiply(c, k);
        rgb[1] = multiply(m, k);
        rgb[2] = multiply(y, k);
    }
}

describer_image_status image_jpeg_decode(struct describer_image_decoder *decoder) {
    struct jpeg_decompress_struct *jpeg = &decoder->jpeg;
    if (setjmp(decoder->jpeg_error.jump)) return decoder->status;
    jpeg_start_decompress(jpeg);
    if (jpeg->output_width != decoder->plan.decoded_width || jpeg->output_height != decoder->plan.decoded_height) {
        return image_fail(decoder, DESCRIBER_IMAGE_MISUSE, "libjpeg's output size changed after planning");
    }
    int cmyk = jpeg->out_color_space == JCS_CMYK;
    if (cmyk) {
        decoder->row = malloc((size_t)jpeg->output_width * 4);
        if (decoder->row == NULL) return image_fail(decoder, DESCRIBER_IMAGE_TOO_LARGE, "out of memory for a row");
    }
    while (jpeg->output_scanline < jpeg->output_height) {
        uint32_t y = jpeg->output_scanline;
        uint8_t *rgb = image_sink_row(&decoder->sink, y);
        JSAMPROW row = cmyk ? decoder->row : rgb;
        if (jpeg_read_scanlines(jpeg, &row, 1) != 1) {
            return image_fail(decoder, DESCRIBER_IMAGE_TRUNCATED, "libjpeg returned no scanline");
        }
        if (cmyk) cmyk_to_rgb(decoder->row, rgb, jpeg->output_width, decoder->jpeg_inverted_cmyk);
        image_sink_commit(&decoder->sink, y);
    }
    /* Every pixel is in. Whatever follows the image data (the EOI marker,
     * trailing bytes some cameras append) cannot change them, so skip
     * jpeg_finish_decompress's reading on to the end. A file cut short
     * anywhere before that, even by only its EOI marker, has already failed
     * as truncated: libjpeg's bit reader asks for data past the last entropy
     * byte, and cannot tell a missing EOI from missing pixels. */
    jpeg_abort_decompress(jpeg);
    return DESCRIBER_IMAGE_OK;
}

void image_jpeg_release(struct describer_image_decoder *decoder) {
    if (decoder->jpeg_created) {
        jpeg_destroy_decompress(&decoder->jpeg);
        decoder->jpeg_created = 0;
    }
}
