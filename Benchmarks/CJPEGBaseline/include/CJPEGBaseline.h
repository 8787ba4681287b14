/*
 * CJPEGBaseline.h — the benchmark's in-process baseline: libjpeg's own
 * decode loop with nothing of ours around it (no sniffing, no EXIF, no
 * resize, no orientation), the same work djpeg does minus writing a file.
 */
#ifndef C_JPEG_BASELINE_H
#define C_JPEG_BASELINE_H

#include <stddef.h>
#include <stdint.h>

/* Decodes `data` to RGB at 1/scale_denom into `pixels` (tightly packed rows)
 * with libjpeg's defaults (ISLOW IDCT, fancy upsampling), as djpeg does.
 * Returns the number of pixels written, or 0 on any error or when
 * `capacity` is too small. */
size_t describer_bench_libjpeg_decode(const uint8_t *data, size_t size, unsigned scale_denom, uint8_t *pixels,
                                      size_t capacity);

#endif
