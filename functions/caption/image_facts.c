/*
 * image_facts.c — see image_facts.h.
 */
#include "image_facts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const colour_names[COLOUR_COUNT] = {
    "black", "grey", "white", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown",
};

const char *caption_colour_name(caption_colour colour) { return colour_names[colour]; }

/* Sorts one pixel into a colour name by hue, saturation and value. */
static caption_colour classify(uint8_t r, uint8_t g, uint8_t b, double *saturation_out) {
    int max = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int min = r < g ? (r < b ? r : b) : (g < b ? g : b);
    double value = max / 255.0;
    double saturation = max == 0 ? 0 : (double)(max - min) / max;
    *saturation_out = saturation;
    if (value < 0.16) return COLOUR_BLACK;
    if (saturation < 0.18) return value > 0.85 ? COLOUR_WHITE : COLOUR_GREY;
    double hue;
    int delta = max - min;
    if (max == r) hue = fmod((double)(g - b) / delta, 6.0);
    else if (max == g) hue = (double)(b - r) / delta + 2.0;
    else hue = (double)(r - g) / delta + 4.0;
    hue *= 60.0;
    if (hue < 0) hue += 360.0;
    /* Dark, moderately saturated reds, oranges and yellows read as brown. */
    if (hue >= 10 && hue < 50 && value < 0.6) return COLOUR_BROWN;
    if (hue < 12 || hue >= 340) return value < 0.5 && saturation < 0.5 ? COLOUR_BROWN : COLOUR_RED;
    if (hue < 40) return COLOUR_ORANGE;
    if (hue < 68) return COLOUR_YELLOW;
    if (hue < 160) return COLOUR_GREEN;
    if (hue < 195) return COLOUR_TEAL;
    if (hue < 255) return COLOUR_BLUE;
    if (hue < 295) return COLOUR_PURPLE;
    return COLOUR_PINK;
}

/* Variance of the Laplacian over the rectangle [x0, x1) x [y0, y1), skipping the image border. */
static double laplacian_variance(const float *luma, uint32_t width, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1) {
    double sum = 0, sum_squares = 0;
    size_t count = 0;
    for (uint32_t y = (y0 > 0 ? y0 : 1); y + 1 < y1; y++) {
        for (uint32_t x = (x0 > 0 ? x0 : 1); x + 1 < x1; x++) {
            const float *p = luma + (size_t)y * width + x;
            double l = p[-1] + p[1] + p[-(ptrdiff_t)width] + p[width] - 4.0 * p[0];
            sum += l;
            sum_squares += l * l;
            count++;
        }
    }
    if (count == 0) return 0;
    double mean = sum / count;
    return sum_squares / count - mean * mean;
}

/* The least of the mean squared luma steps in four directions over the
 * rectangle [x0, x1) x [y0, y1). */
static double softest_direction(const float *luma, uint32_t width, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1) {
    double energy[4] = {0, 0, 0, 0};
    size_t count = 0;
    for (uint32_t y = (y0 > 0 ? y0 : 1); y < y1; y++) {
        for (uint32_t x = (x0 > 0 ? x0 : 1); x + 1 < x1; x++) {
            const float *p = luma + (size_t)y * width + x;
            double row = p[0] - p[-1], column = p[0] - p[-(ptrdiff_t)width];
            double diagonal = p[0] - p[-(ptrdiff_t)width - 1], antidiagonal = p[0] - p[-(ptrdiff_t)width + 1];
            energy[0] += row * row, energy[1] += column * column;
            energy[2] += diagonal * diagonal, energy[3] += antidiagonal * antidiagonal;
            count++;
        }
    }
    if (count == 0) return 0;
    double least = energy[0];
    for (int i = 1; i < 4; i++) least = fmin(least, energy[i]);
    return least / count;
}

int caption_measure(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t stride, caption_facts *facts) {
    memset(facts, 0, sizeof *facts);
    facts->width = width;
    facts->height = height;
    size_t count = (size_t)width * height;
    if (count == 0) return 0;
    float *luma = malloc(count * sizeof(float));
    if (luma == NULL) return -1;
    double sum = 0, sum_squares = 0, saturation_sum = 0;
    size_t dark = 0, bright = 0;
    size_t colours[COLOUR_COUNT] = {0};
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *row = pixels + (size_t)y * stride;
        for (uint32_t x = 0; x < width; x++) {
            uint8_t r = row[3 * x], g = row[3 * x + 1], b = row[3 * x + 2];
            /* Rec. 601 luma, as JPEG itself uses. */
            float l = 0.299f * r + 0.587f * g + 0.114f * b;
            luma[(size_t)y * width + x] = l;
            sum += l;
            sum_squares += (double)l * l;
            if (l < 24) dark++;
            if (l > 245) bright++;
            double saturation;
            colours[classify(r, g, b, &saturation)]++;
            saturation_sum += saturation;
        }
    }
    facts->brightness = sum / count;
    facts->contrast = sqrt(fmax(0, sum_squares / count - facts->brightness * facts->brightness));
    facts->dark_share = (double)dark / count;
    facts->bright_share = (double)bright / count;
    facts->saturation = saturation_sum / count;
    for (int i = 0; i < COLOUR_COUNT; i++) facts->colour_share[i] = (double)colours[i] / count;
    {
        facts->sharpness = laplacian_variance(luma, width, 0, 0, width, height);
        facts->edge_energy = softest_direction(luma, width, 0, 0, width, height);
        for (uint32_t ty = 0; ty < 4; ty++) {
            for (uint32_t tx = 0; tx < 4; tx++) {
                double tile = laplacian_variance(luma, width, tx * width / 4, ty * height / 4, (tx + 1) * width / 4,
                                                 (ty + 1) * height / 4);
                if (tile > facts->peak_sharpness) facts->peak_sharpness = tile;
                double edge = softest_direction(luma, width, tx * width / 4, ty * height / 4, (tx + 1) * width / 4,
                                                (ty + 1) * height / 4);
                if (edge > facts->peak_edge) facts->peak_edge = edge;
            }
        }
        free(luma);
    }
    return 0;
}
