/*
 * CImageDecode.h — JPEG (libjpeg-turbo) and PNG (libpng) decoding to RGB8 for
 * the Describer host.
 *
 * This is a separate C target because both libraries report errors with
 * setjmp/longjmp: every setjmp and every longjmp happens inside this target's
 * C functions, so no longjmp ever crosses a Swift frame, and libjpeg's default
 * error_exit (which calls exit()) is never installed.
 *
 * Use, always in this order, from one thread at a time:
 *
 *   describer_image_decoder_create()          allocate the state
 *   describer_image_read_header(...)          parse headers only; no pixel allocation
 *       (the caller checks width x height against its limits here)
 *   describer_image_plan(...)                 choose DCT scaling and the output size
 *   describer_image_decode(...)               decode into the caller's buffer
 *   describer_image_decoder_destroy(...)      always, also after an error
 *
 * Output: 8-bit RGB, orientation-corrected (EXIF orientation for JPEG, and the
 * eXIf chunk for PNG), downscaled to fit the requested box when one is given.
 * Grey, CMYK/YCCK (Adobe inverted or plain), palette, 16-bit and alpha inputs
 * are all converted. Alpha is composited onto white, the way a page shows a
 * transparent picture, so that a transparent logo does not turn into whatever
 * colour its encoder left under alpha = 0 (often black).
 */
#ifndef C_IMAGE_DECODE_H
#define C_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Clang's nullability qualifiers tell Swift which pointers are optional;
 * other compilers do not know them. */
#if defined(__clang__)
#define DESCRIBER_IMAGE_NULLABLE _Nullable
#define DESCRIBER_IMAGE_NONNULL _Nonnull
#else
#define DESCRIBER_IMAGE_NULLABLE
#define DESCRIBER_IMAGE_NONNULL
#endif

typedef enum describer_image_format {
    DESCRIBER_IMAGE_FORMAT_UNKNOWN = 0,
    DESCRIBER_IMAGE_FORMAT_JPEG = 1,
    DESCRIBER_IMAGE_FORMAT_PNG = 2,
} describer_image_format;

typedef enum describer_image_status {
    DESCRIBER_IMAGE_OK = 0,
    /* The bytes are not a decodable image of the format: bad signature,
     * corrupt headers or corrupt compressed data. */
    DESCRIBER_IMAGE_NOT_AN_IMAGE = 1,
    /* A valid file using a feature the libraries do not decode
     * (12-bit or lossless JPEG, an unknown colour space). */
    DESCRIBER_IMAGE_UNSUPPORTED = 2,
    /* The data ends before the image does. */
    DESCRIBER_IMAGE_TRUNCATED = 3,
    /* Dimensions beyond what the library handles, too many progressive
     * scans, or memory could not be allocated. */
    DESCRIBER_IMAGE_TOO_LARGE = 4,
    /* The calls were made out of order or with a too-small buffer: a bug in
     * the caller, never caused by the input. */
    DESCRIBER_IMAGE_MISUSE = 5,
} describer_image_status;

/* What the headers say, before any pixel is decoded. */
typedef struct describer_image_header {
    uint32_t format;       /* describer_image_format */
    /* Stored dimensions (before orientation). Also filled in when the header
     * is refused as too large, so the caller can say what it claimed. */
    uint32_t width;
    uint32_t height;
    /* Colour channels as stored: 1 grey, 2 grey + alpha, 3 colour,
     * 4 colour + alpha (PNG) or CMYK/YCCK (JPEG). */
    uint32_t components;
    uint32_t bits_per_component;
    /* EXIF orientation 1...8; 1 when absent or invalid. */
    uint32_t orientation;
    /* 1 for progressive JPEG or interlaced PNG. */
    uint32_t progressive;
} describer_image_header;

/* What describer_image_decode will produce. */
typedef struct describer_image_plan {
    /* The final image, after orientation: what the caller allocates. */
    uint32_t width;
    uint32_t height;
    /* JPEG DCT-domain reduction: 1, 2, 4 or 8 (always 1 for PNG). */
    uint32_t scale_denom;
    /* The size libjpeg/libpng produce before the area resize, in stored
     * orientation. */
    uint32_t decoded_width;
    uint32_t decoded_height;
} describer_image_plan;

typedef struct describer_image_decoder describer_image_decoder;

/* Allocates a decoder. Returns NULL when out of memory.
 * OWNERSHIP: the caller's; release with describer_image_decoder_destroy. */
describer_image_decoder *DESCRIBER_IMAGE_NULLABLE describer_image_decoder_create(void);

/* Frees the decoder and everything the libraries allocated. Accepts NULL. */
void describer_image_decoder_destroy(describer_image_decoder *DESCRIBER_IMAGE_NULLABLE decoder);

/* Sniffs the format from the first bytes and reads the headers (libjpeg's
 * jpeg_read_header, libpng's png_read_info) without allocating pixels.
 * `data` is borrowed: it must stay valid and unchanged until
 * describer_image_decoder_destroy. */
describer_image_status describer_image_read_header(describer_image_decoder *DESCRIBER_IMAGE_NONNULL decoder,
                                                   const uint8_t *DESCRIBER_IMAGE_NULLABLE data, size_t size,
                                                   describer_image_header *DESCRIBER_IMAGE_NONNULL header);

/* Chooses the output size for a box of max_width x max_height pixels, in the
 * displayed orientation (0 for no limit on that side). The image keeps its
 * aspect ratio and is never enlarged. For JPEG with `dct_scaling` set, picks
 * the largest DCT reduction (1/2, 1/4, 1/8) whose output still covers the
 * box, so the area resize that finishes the job only ever shrinks by less
 * than 2x (or not at all). */
describer_image_status describer_image_plan_output(describer_image_decoder *DESCRIBER_IMAGE_NONNULL decoder,
                                                   uint32_t max_width, uint32_t max_height, int dct_scaling,
                                                   describer_image_plan *DESCRIBER_IMAGE_NONNULL plan);

/* Decodes into `pixels`: plan.height rows of `stride` bytes, each starting
 * with plan.width * 3 bytes of R, G, B. `capacity` is the buffer's size.
 * OWNERSHIP: `pixels` is the caller's; written only during this call. */
describer_image_status describer_image_decode(describer_image_decoder *DESCRIBER_IMAGE_NONNULL decoder,
                                              uint8_t *DESCRIBER_IMAGE_NONNULL pixels, size_t stride,
                                              size_t capacity);

/* The size describer_image_resize writes for a width x height image and a
 * box (0 = unbounded): the aspect ratio is kept, nothing is enlarged. */
void describer_image_fit(uint32_t width, uint32_t height, uint32_t box_width, uint32_t box_height,
                         uint32_t *DESCRIBER_IMAGE_NONNULL out_width, uint32_t *DESCRIBER_IMAGE_NONNULL out_height);

/* Shrinks already-decoded RGB8 pixels to out_width x out_height (from
 * describer_image_fit) with the same area filter the decoder uses, so one
 * decode can serve functions that want different boxes.
 * OWNERSHIP: both buffers are the caller's. Returns DESCRIBER_IMAGE_OK, or
 * DESCRIBER_IMAGE_TOO_LARGE when out of memory or `capacity` is too small. */
describer_image_status describer_image_resize(const uint8_t *DESCRIBER_IMAGE_NONNULL source, uint32_t width,
                                              uint32_t height, size_t source_stride, uint8_t *DESCRIBER_IMAGE_NONNULL
                                              destination, uint32_t out_width, uint32_t out_height,
                                              size_t destination_stride, size_t capacity);

/* A human-readable reason for the last failure ("" when none).
 * OWNERSHIP: the decoder's; valid until the next call on it. */
const char *DESCRIBER_IMAGE_NONNULL
describer_image_message(const describer_image_decoder *DESCRIBER_IMAGE_NONNULL decoder);

/* Parses the EXIF orientation (tag 0x0112 in IFD0) from a TIFF-structured
 * block (what follows "Exif\0\0" in a JPEG APP1 segment, or a PNG eXIf
 * chunk). Returns 1...8, or 1 when absent or malformed. Bounded: reads only
 * within `size` bytes and looks at IFD0 alone. The JPEG and PNG readers
 * call it; it is public so that other callers can too. */
uint32_t describer_image_exif_orientation(const uint8_t *DESCRIBER_IMAGE_NULLABLE tiff, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* C_IMAGE_DECODE_H */
