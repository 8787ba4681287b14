/*
 * image_facts.h — what can be measured about a photo without recognising
 * anything in it: light, contrast, sharpness and colour.
 */
#ifndef CAPTION_IMAGE_FACTS_H
#define CAPTION_IMAGE_FACTS_H

#include <stddef.h>
#include <stdint.h>

/* The colour names a pixel is sorted into. */
typedef enum caption_colour {
    COLOUR_BLACK, COLOUR_GREY, COLOUR_WHITE,
    COLOUR_RED, COLOUR_ORANGE, COLOUR_YELLOW, COLOUR_GREEN, COLOUR_TEAL, COLOUR_BLUE, COLOUR_PURPLE, COLOUR_PINK,
    COLOUR_BROWN,
    COLOUR_COUNT
} caption_colour;

const char *caption_colour_name(caption_colour colour);

typedef struct caption_facts {
    uint32_t width, height;
    double brightness;      /* mean luma, 0..255 */
    double contrast;        /* standard deviation of luma */
    double dark_share;      /* share of pixels with luma < 24 */
    double bright_share;    /* share of pixels with luma > 245 */
    /* Variance of the 3x3 Laplacian of luma: high for sharp edges, low for
     * blur. Measured on the image as given (the host scales it to fit the
     * function's maximum size), so the thresholds hold across photo sizes. */
    double sharpness;
    /* Sharpness of the sharpest tile of a 4x4 grid: a photo with a sharp
     * subject and a soft background is not blurry. */
    double peak_sharpness;
    /* Edge energy in the softest direction: the mean squared luma step
     * along rows, columns and both diagonals, whichever is least. Motion
     * blur removes edges along the movement only, which the Laplacian
     * barely notices; this catches both kinds. `peak_edge` is the best
     * 4x4 tile's value, so a sharp subject on a soft background passes. */
    double edge_energy;
    double peak_edge;
    double colour_share[COLOUR_COUNT];
    double saturation;      /* mean HSV saturation, 0..1 */
} caption_facts;

/* Measures an RGB8 image: `height` rows of `stride` bytes, 3 bytes per pixel.
 * Returns 0, or -1 when out of memory (the facts are then unusable). */
int caption_measure(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t stride, caption_facts *facts);

#endif
