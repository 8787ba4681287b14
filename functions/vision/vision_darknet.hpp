/*
 * vision_darknet.hpp — a Darknet network (a .cfg and its .weights) turned
 * into OpenVINO's own model format (IR: an XML graph and a weights blob), in
 * memory, so that OpenVINO's CPU plugin can run networks that ship only as
 * Darknet files. Batch normalisation is folded into the convolutions on the
 * way. Used by vision_net.cpp; no OpenVINO call happens here.
 */
#ifndef DESCRIBER_VISION_DARKNET_HPP
#define DESCRIBER_VISION_DARKNET_HPP

#include <cstdint>
#include <string>
#include <vector>

namespace vision_detail {

/* One [yolo] layer: which anchors its output uses and how to decode it. */
struct YoloHead {
    int classes = 0;
    std::vector<float> anchors; /* width, height pairs, in input pixels, one pair per anchor of this head */
    float scaleXY = 1;          /* Darknet's scale_x_y (1 in YOLOv3) */
    int64_t rows = 0, columns = 0; /* the grid its output must have */
};

struct DarknetIR {
    std::string xml;                /* IR version 11 */
    std::vector<uint8_t> weights;   /* the blob the XML's constants point into */
    std::vector<YoloHead> heads;    /* in the order of the model's outputs */
    int width = 0, height = 0;      /* the input size the graph was built for */
};

/* Reads `cfg` and `weights` and builds the graph for a width x height input
 * (0 = the cfg's own size) with a dynamic batch dimension. The input is
 * planar RGB floats in 0..1 (NCHW); each output is a [yolo] layer's raw
 * convolution output, batch x anchors*(5+classes) x rows x columns.
 * Throws std::runtime_error naming the file and the problem: an unsupported
 * layer or activation, a weights file that does not match the cfg. */
DarknetIR darknetToIR(const std::string &cfg, const std::string &weights, int width, int height);

} // namespace vision_detail

#endif
