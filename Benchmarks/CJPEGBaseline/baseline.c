/*
 * baseline.c — see CJPEGBaseline.h. Errors longjmp back to this function,
 * never through Swift.
 */
#include "CJPEGBaseline.h"

#include <setjmp.h>
#include <stdio.h>

#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
} baseline_error;

static void error_exit(j_common_ptr common) { longjmp(((baseline_error *)common->err)->jump, 1); }

size_t describer_bench_libjpeg_decode(const uint8_t *data, size_t size, unsigned scale_denom, uint8_t *pixels,
                                      size_t capacity) {
    struct jpeg_decompress_struct jpeg;
    baseline_error error;
    jpeg.err = jpeg_std_error(&error.base);
    error.base.error_exit = error_exit;
    if (setjmp(error.jump)) {
        jpeg_destroy_decompress(&jpeg);
        return 0;
    }
    jpeg_create_decompress(&jpeg);
    jpeg_mem_src(&jpeg, data, (unsigned long)size);
    jpeg_read_header(&jpeg, TRUE);
    jpeg.out_color_space = JCS_RGB;
    jpeg.scale_num = 1;
    jpeg.scale_denom = scale_denom;
    jpeg_start_decompress(&jpeg);
    size_t row_bytes = (size_t)jpeg.output_width * 3;
    if (row_bytes * jpeg.output_height > capacity) {
        jpeg_destroy_decompress(&jpeg);
        return 0;
    }
    while (jpeg.output_scanline < jpeg.output_height) {
        JSAMPROW row = pixels + row_bytes * jpeg.output_scanline;
        jpeg_read_scanlines(&jpeg, &row, 1);
    }
    size_t count = (size_t)jpeg.output_width * jpeg.output_height;
    jpeg_finish_decompress(&jpeg);
    jpeg_destroy_decompress(&jpeg);
    return count;
}
