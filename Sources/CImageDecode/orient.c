/*
 * orient.c — applies an EXIF orientation to a decoded RGB8 image, so that
 * functions always see the picture the way a viewer shows it.
 */
#include "internal.h"

#include <string.h>

/* For each EXIF orientation, where output pixel (x, y) comes from in the
 * stored image of width w and height h:
 *   1 (x, y)            2 (w-1-x, y)        3 (w-1-x, h-1-y)    4 (x, h-1-y)
 *   5 (y, x)            6 (y, h-1-x)        7 (w-1-y, h-1-x)    8 (w-1-y, x)
 * 5-8 swap the axes: the output is h wide and w high. 6 is the common
 * "camera held upright" case: a 90-degree clockwise turn. */
void image_orient(const uint8_t *source, uint32_t width, uint32_t height, uint32_t orientation,
                  uint8_t *destination, size_t stride) {
    size_t source_stride = (size_t)width * 3;
    int transposed = orientation >= 5;
    uint32_t out_width = transposed ? height : width, out_height = transposed ? width : height;
    for (uint32_t y = 0; y < out_height; y++) {
        uint8_t *out = destination + stride * y;
        if (orientation == 1 || orientation == 4) {
            uint32_t source_y = orientation == 1 ? y : height - 1 - y;
            memcpy(out, source + source_stride * source_y, source_stride);
            continue;
        }
        for (uint32_t x = 0; x < out_width; x++, out += 3) {
            uint32_t sx, sy;
            switch (orientation) {
            case 2: sx = width - 1 - x; sy = y; break;
            case 3: sx = width - 1 - x; sy = height - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = height - 1 - x; break;
            case 7: sx = width - 1 - y; sy = height - 1 - x; break;
            default: sx = width - 1 - y; sy = x; break; /* 8 */
            }
            const uint8_t *in = source + source_stride * sy + (size_t)sx * 3;
            out[0] = in[0];
            out[1] = in[1];
            out[2] = in[2];
        }
    }
}
