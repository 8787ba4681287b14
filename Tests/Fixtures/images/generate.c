/*
 * generate.c — writes the small synthetic images next to it, each with known
 * colours so that ImageDecodingTests can check the conversions exactly.
 * The output is committed; re-run only to change the images:
 *
 *   cc -O1 -o /tmp/generate generate.c -lpng16 -ljpeg && (cd "$(dirname generate.c)" && /tmp/generate)
 *
 * Every image is 32 x 24 pixels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

enum { W = 32, H = 24 };

static void write_png(const char *path, int bit_depth, int color_type, int interlace, png_bytep *rows,
                      png_colorp palette, int palette_size, png_bytep trans, int trans_size) {
    FILE *file = fopen(path, "wb");
    if (!file) { perror(path); exit(1); }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) { fprintf(stderr, "libpng failed on %s\n", path); exit(1); }
    png_init_io(png, file);
    png_set_IHDR(png, info, W, H, bit_depth, color_type, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, palette_size);
    if (trans) png_set_tRNS(png, info, trans, trans_size, NULL);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(file);
}

/* Left half opaque red, right half fully transparent (black underneath),
 * bottom 8 rows half-transparent blue over the whole width. */
static void rgba(void) {
    static png_byte pixels[H][W * 4];
    png_bytep rows[H];
    for (int y = 0; y < H; y++) {
        rows[y] = pixels[y];
        for (int x = 0; x < W; x++) {
            png_bytep p = &pixels[y][x * 4];
            if (y >= 16) { p[0] = 0; p[1] = 0; p[2] = 255; p[3] = 128; }
            else if (x < W / 2) { p[0] = 255; p[1] = 0; p[2] = 0; p[3] = 255; }
            else { p[0] = 0; p[1] = 0; p[2] = 0; p[3] = 0; }
        }
    }
    write_png("rgba.png", 8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE, rows, NULL, 0, NULL, 0);
}

/* 16-bit RGB: every pixel (0xFFFF, 0x8080, 0x0000) -> (255, 128, 0). */
static void rgb16(void) {
    static png_byte pixels[H][W * 6];
    png_bytep rows[H];
    for (int y = 0; y < H; y++) {
        rows[y] = pixels[y];
        for (int x = 0; x < W; x++) {
            png_bytep p = &pixels[y][x * 6];
            p[0] = 0xFF; p[1] = 0xFF; p[2] = 0x80; p[3] = 0x80; p[4] = 0; p[5] = 0;
        }
    }
    write_png("rgb16.png", 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, rows, NULL, 0, NULL, 0);
}

/* 2-bit grey: column x has level x % 4 -> 0, 85, 170, 255. */
static void gray2(void) {
    static png_byte pixels[H][W / 4];
    png_bytep rows[H];
    for (int y = 0; y < H; y++) {
        rows[y] = pixels[y];
        for (int i = 0; i < W / 4; i++) pixels[y][i] = 0x1B; /* 00 01 10 11 */
    }
    write_png("gray2.png", 2, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, rows, NULL, 0, NULL, 0);
}

/* Palette: index = row / 6 -> red, green, blue, and a transparent entry. */
static void palette(void) {
    static png_byte pixels[H][W];
    png_bytep rows[H];
    png_color colours[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    png_byte trans[4] = {255, 255, 255, 0};
    for (int y = 0; y < H; y++) {
        rows[y] = pixels[y];
        memset(pixels[y], y / 6, W);
    }
    write_png("palette.png", 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, rows, colours, 4, trans, 4);
}

/* Adam7-interlaced RGB: pixel (x, y) = (x * 8, y * 8, 200). */
static void interlaced(void) {
    static png_byte pixels[H][W * 3];
    png_bytep rows[H];
    for (int y = 0; y < H; y++) {
        rows[y] = pixels[y];
        for (int x = 0; x < W; x++) {
            pixels[y][x * 3] = (png_byte)(x * 8);
            pixels[y][x * 3 + 1] = (png_byte)(y * 8);
            pixels[y][x * 3 + 2] = 200;
        }
    }
    write_png("interlaced.png", 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, rows, NULL, 0, NULL, 0);
}

static void write_jpeg(const char *path, J_COLOR_SPACE in_space, int components, J_COLOR_SPACE jpeg_space,
                       int progressive, const JSAMPLE *pixels) {
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    FILE *file = fopen(path, "wb");
    if (!file) { perror(path); exit(1); }
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, file);
    cinfo.image_width = W;
    cinfo.image_height = H;
    cinfo.input_components = components;
    cinfo.in_color_space = in_space;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, jpeg_space); /* CMYK/YCCK also turn on the Adobe marker */
    jpeg_set_quality(&cinfo, 95, TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * W * components);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(file);
}

int main(void) {
    rgba();
    rgb16();
    gray2();
    palette();
    interlaced();

    /* Adobe CMYK stores ink inverted (255 = no ink). Top half red
     * (C 0, M 100%, Y 100%, K 0), bottom half 50% grey (K 50%). Written as
     * YCCK, the way Photoshop writes CMYK JPEGs. */
    static JSAMPLE cmyk[H * W * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            JSAMPLE *p = &cmyk[(y * W + x) * 4];
            if (y < H / 2) { p[0] = 255; p[1] = 0; p[2] = 0; p[3] = 255; }
            else { p[0] = 255; p[1] = 255; p[2] = 255; p[3] = 128; }
        }
    write_jpeg("cmyk.jpg", JCS_CMYK, 4, JCS_YCCK, 0, cmyk);

    static JSAMPLE gray[H * W];
    memset(gray, 100, sizeof gray);
    write_jpeg("gray.jpg", JCS_GRAYSCALE, 1, JCS_GRAYSCALE, 0, gray);

    /* Progressive RGB: left half green (0, 200, 0), right half (40, 40, 160). */
    static JSAMPLE rgb[H * W * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            JSAMPLE *p = &rgb[(y * W + x) * 3];
            if (x < W / 2) { p[0] = 0; p[1] = 200; p[2] = 0; }
            else { p[0] = 40; p[1] = 40; p[2] = 160; }
        }
    write_jpeg("progressive.jpg", JCS_RGB, 3, JCS_YCbCr, 1, rgb);
    return 0;
}
