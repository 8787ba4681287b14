/*
 * vision.h — the image operations the vision functions share, in C.
 *
 * A thin shim over Debian's OpenCV 4.6 (core, imgproc, dnn), so that each
 * function does not grow its own letterbox, non-maximum suppression or
 * perspective crop, and so that functions written in C can use them too.
 * Built as a static, position-independent archive (libvision.a) that each
 * function links into its own library; see the Makefile.
 *
 * Errors: calls that can fail return 0 on success and -1 on failure, with a
 * NUL-terminated reason written into the caller's `error` buffer (cut to
 * `error_size`). No call throws or aborts.
 *
 * Images are 8-bit RGB, `stride` bytes per row, as the host hands them over
 * (describer_request). Points and boxes are in pixels unless a comment says
 * otherwise.
 */
#ifndef DESCRIBER_VISION_H
#define DESCRIBER_VISION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* OWNERSHIP: the caller's; only read during the call. */
typedef struct vision_image {
    const uint8_t *data;
    uint32_t width;
    uint32_t height;
    uint32_t stride;
} vision_image;

/* ---------------------------------------------------------------------------
 * Network input
 * ------------------------------------------------------------------------- */

typedef enum vision_fit {
    /* Stretch the image to exactly width x height (aspect ratio not kept). */
    VISION_FIT_STRETCH = 0,
    /* Scale to fit inside width x height keeping the aspect ratio; the rest is
     * filled with `pad` (in the output's units, after normalisation), image
     * at the top left. */
    VISION_FIT_LETTERBOX = 1,
} vision_fit;

/* How an input was resized into a blob, to map network coordinates back:
 * original = blob / scale_* (offsets are always 0: the image sits at the top
 * left). */
typedef struct vision_geometry {
    float scale_x;
    float scale_y;
} vision_geometry;

/* Writes `image` into `out` as one planar float tensor of 3 x height x width
 * (NCHW for a batch of one), value = (pixel * scale - mean[c]) / std[c] per
 * channel. `bgr` != 0 puts the channels in B, G, R order, as networks trained
 * on OpenCV-loaded images expect. `out` must hold 3 * width * height floats.
 * OWNERSHIP: `out` is the caller's. */
int vision_blob(const vision_image *image, int width, int height, vision_fit fit, float pad, float scale,
                const float mean[3], const float std[3], int bgr, float *out, vision_geometry *geometry,
                char *error, size_t error_size);

/* ---------------------------------------------------------------------------
 * DNN forward
 * ------------------------------------------------------------------------- */

/* Which engine runs a network on the CPU. */
typedef enum vision_backend {
    /* The OpenVINO C runtime, opened with dlopen from `runtime_directory`
     * (functions/openvino/runtime/lib, installed by make -C functions/openvino).
     * The Darknet files are turned into OpenVINO's own format in memory when
     * the network is read; no converted copy is written anywhere. */
    VISION_BACKEND_OPENVINO = 0,
    /* OpenCV's own DNN backend: needs nothing beyond Debian's OpenCV, and is
     * several times slower on the same network. */
    VISION_BACKEND_OPENCV = 1,
} vision_backend;

typedef struct vision_net_options {
    vision_backend backend;
    /* Inference threads; 0 = the engine's default (one per core). OpenCV's
     * setting is process-wide: it has one pool. */
    int threads;
    /* The input size the network runs at, a multiple of 32; 0 = the cfg's.
     * OpenCV accepts any size at forward time; OpenVINO's network is built
     * for this one. */
    int width, height;
    /* OpenVINO only: the folder holding libopenvino_c.so.2641. */
    const char *runtime_directory;
} vision_net_options;

typedef struct vision_net vision_net;

/* Reads a Darknet network made of the layers YOLOv3-tiny uses
 * (convolutional, maxpool, route, upsample and yolo; OpenVINO refuses by
 * name any other layer or setting). Returns NULL with `error` set on failure; an
 * OpenVINO runtime that cannot be opened says "could not be loaded". Free
 * with vision_net_free. */
vision_net *vision_net_read_darknet(const char *cfg_path, const char *weights_path, const vision_net_options *options,
                                    char *error, size_t error_size);
void vision_net_free(vision_net *net);

/* Runs the network on a batch of `batch` planar images of 3 x height x width
 * floats laid one after another in `input`, in one forward pass. Afterwards
 * vision_net_output_count and vision_net_output describe the outputs, which
 * stay valid until the next forward or free. */
int vision_net_forward(vision_net *net, const float *input, int batch, int height, int width, char *error,
                       size_t error_size);
size_t vision_net_output_count(const vision_net *net);
/* Output `index` seen as a rows x cols matrix of floats; NULL when out of
 * range. What a row is depends on the backend (OpenCV: one decoded
 * candidate; OpenVINO: one image's raw layer output): read detections with
 * vision_yolo_candidates, which knows both. OWNERSHIP: the net's. */
const float *vision_net_output(const vision_net *net, size_t index, int *rows, int *cols);

/* How many classes a YOLO network tells apart (80 for COCO), or -1 before a
 * forward pass of an OpenCV network, whose outputs say it. */
int vision_yolo_class_count(const vision_net *net);

struct vision_box; /* below, under Boxes */

/* The candidates of a YOLO network for image `image` of the last forward
 * batch: every anchor whose objectness times best class probability reaches
 * `min_score`, as a box in fractions of the input (top left and size) with
 * that class and score. Writes at most `capacity` boxes into `out` and
 * returns how many there are (possibly more than `capacity`). */
size_t vision_yolo_candidates(const vision_net *net, size_t image, float min_score, struct vision_box *out,
                              size_t capacity);

/* ---------------------------------------------------------------------------
 * Boxes
 * ------------------------------------------------------------------------- */

typedef struct vision_box {
    float x, y, width, height; /* top left corner and size, any consistent unit */
    float score;
    int class_id;
} vision_box;

/* Greedy non-maximum suppression within each class: of boxes of one class
 * overlapping by more than `iou_threshold` (intersection over union), only
 * the highest-scoring stays; boxes below `score_threshold` are dropped.
 * Writes the indices of the kept boxes, best first, into `kept` (room for
 * `count`) and returns how many there are. */
size_t vision_nms_per_class(const vision_box *boxes, size_t count, float score_threshold, float iou_threshold,
                            size_t *kept);

/* A quadrilateral: four corners clockwise from the top left (in reading
 * direction for a text line: top left, top right, bottom right, bottom
 * left). */
typedef struct vision_quad {
    float x[4];
    float y[4];
} vision_quad;

/* A region found in a probability map. */
typedef struct vision_region {
    vision_quad box;  /* the minimum-area rotated rectangle of the region */
    float score;      /* mean probability inside that rectangle */
    float short_side; /* the rectangle's shorter side */
} vision_region;

/* Finds the connected regions of `map` (width x height floats, row-major)
 * above `threshold`, after a 2x2 dilation that joins regions split by a
 * one-pixel gap, and returns each one's minimum-area rotated rectangle and
 * mean probability. Writes at most `capacity` regions and returns how many
 * were found (possibly more than `capacity`), or -1 on error. */
long vision_regions(const float *map, int width, int height, float threshold, vision_region *regions,
                    size_t capacity, char *error, size_t error_size);

/* The minimum-area rotated rectangle around `count` points, corners ordered
 * as in vision_quad (for rotations under 45 degrees, the top-left corner is
 * the upper of the two leftmost corners). */
int vision_min_area_rect(const float *x, const float *y, size_t count, vision_quad *out);

/* Warps the quadrilateral `quad` of `image` onto an upright width x height
 * RGB8 rectangle (the perspective crop of a rotated or skewed region),
 * corner 0 to the top left. Pixels outside the image are replicated from
 * its border. `out` holds width * height * 3 bytes, rows packed.
 * OWNERSHIP: `out` is the caller's. */
int vision_crop(const vision_image *image, const vision_quad *quad, int width, int height, uint8_t *out, char *error,
                size_t error_size);

/* A small grey copy of `image` (width x height bytes, rows packed), each
 * pixel the average of the area it covers: the input of a background model
 * for motion, where detail is noise. OWNERSHIP: `out` is the caller's. */
int vision_grey_thumbnail(const vision_image *image, int width, int height, uint8_t *out, char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* DESCRIBER_VISION_H */
