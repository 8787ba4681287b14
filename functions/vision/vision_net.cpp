/*
 * vision_net.cpp — the DNN side of vision.h: Darknet networks on OpenCV's
 * own CPU backend, and per-class non-maximum suppression. A separate object
 * so that functions that use neither do not link libopencv_dnn.
 */
#include "vision.h"
#include "vision_internal.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <opencv2/dnn.hpp>
#include <string>
#include <vector>

using vision_detail::guarded;
using vision_detail::report;

struct vision_net {
    cv::dnn::Net net;
    std::vector<std::string> outputNames;
    std::vector<cv::Mat> outputs;
};

extern "C" {

vision_net *vision_net_read_darknet(const char *cfgPath, const char *weightsPath, int threads, char *error,
                                    size_t errorSize) {
    vision_net *result = nullptr;
    guarded(error, errorSize, [&] {
        auto net = std::make_unique<vision_net>();
        net->net = cv::dnn::readNetFromDarknet(cfgPath, weightsPath);
        net->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        net->outputNames = net->net.getUnconnectedOutLayersNames();
        if (threads > 0) cv::setNumThreads(threads);
        result = net.release();
        return 0;
    });
    return result;
}

void vision_net_free(vision_net *net) { delete net; }

int vision_net_forward(vision_net *net, const float *input, int batch, int height, int width, char *error,
                       size_t errorSize) {
    if (net == nullptr || input == nullptr || batch <= 0 || height <= 0 || width <= 0) {
        report(error, errorSize, "vision_net_forward: no network or no input");
        return -1;
    }
    return guarded(error, errorSize, [&] {
        const int shape[4] = {batch, 3, height, width};
        /* setInput copies, so the caller's buffer is only borrowed. */
        net->net.setInput(cv::Mat(4, shape, CV_32F, const_cast<float *>(input)));
        net->outputs.clear();
        net->net.forward(net->outputs, net->outputNames);
        return 0;
    });
}

size_t vision_net_output_count(const vision_net *net) { return net == nullptr ? 0 : net->outputs.size(); }

const float *vision_net_output(const vision_net *net, size_t index, int *rows, int *cols) {
    if (net == nullptr || index >= net->outputs.size()) return nullptr;
    const cv::Mat &output = net->outputs[index];
    if (!output.isContinuous() || output.dims < 1) return nullptr;
    *rows = output.dims == 1 ? 1 : output.size[0];
    *cols = static_cast<int>(output.total() / std::max(1, *rows));
    return output.ptr<float>();
}

size_t vision_yolo_candidates(const vision_net *net, float minScore, vision_box *out, size_t capacity) {
    size_t found = 0;
    for (size_t o = 0; o < vision_net_output_count(net); o++) {
        int rows = 0, cols = 0;
        const float *output = vision_net_output(net, o, &rows, &cols);
        /* A row: centre, size, objectness, then one score per class. */
        if (output == nullptr || cols <= 5) continue;
        for (int row = 0; row < rows; row++) {
            const float *values = output + static_cast<size_t>(row) * cols;
            const float *best = std::max_element(values + 5, values + cols);
            /* OpenCV's region layer already multiplies the class scores by
             * the objectness in column 4. */
            if (*best < minScore) continue;
            if (found < capacity && out != nullptr) {
                float w = values[2], h = values[3];
                out[found] = {values[0] - w / 2, values[1] - h / 2, w, h, *best, static_cast<int>(best - values - 5)};
            }
            found++;
        }
    }
    return found;
}

size_t vision_nms_per_class(const vision_box *boxes, size_t count, float scoreThreshold, float iouThreshold,
                            size_t *kept) {
    if (boxes == nullptr || kept == nullptr) return 0;
    size_t found = 0;
    try {
        /* OpenCV 4.6 has no batched NMS, so one call per class. */
        std::map<int, std::vector<size_t>> byClass;
        for (size_t i = 0; i < count; i++) byClass[boxes[i].class_id].push_back(i);
        for (const auto &[classId, members] : byClass) {
            std::vector<cv::Rect2d> rects;
            std::vector<float> scores;
            for (size_t i : members) {
                rects.emplace_back(boxes[i].x, boxes[i].y, boxes[i].width, boxes[i].height);
                scores.push_back(boxes[i].score);
            }
            std::vector<int> survivors;
            cv::dnn::NMSBoxes(rects, scores, scoreThreshold, iouThreshold, survivors);
            for (int k : survivors) kept[found++] = members[k];
        }
        std::stable_sort(kept, kept + found, [&](size_t a, size_t b) { return boxes[a].score > boxes[b].score; });
    } catch (...) {
        return 0;
    }
    return found;
}

} // extern "C"
