/*
 * yolo_model.hpp — YOLOv3-tiny as `detect` and `security-events` run it:
 * the Darknet files of one folder (yolov3-tiny.cfg, yolov3-tiny.weights,
 * coco.names), one network per instance, the whole image stretched to the
 * network's square input, candidates filtered per class by NMS. On top of
 * the vision library (vision.h); header-only C++, so each function links
 * its own copy and nothing is shared at run time.
 */
#ifndef DESCRIBER_YOLO_MODEL_HPP
#define DESCRIBER_YOLO_MODEL_HPP

#include "vision.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace describer_support {

struct YoloModel {
    std::unique_ptr<vision_net, decltype(&vision_net_free)> net{nullptr, vision_net_free};
    std::vector<std::string> labels;
    std::vector<float> blob; /* the network's input, reused between requests */
    int inputSize = 416;

    /* Loads the model in `directory` and runs one pass, so the first request
     * does not pay for OpenCV's lazy initialisation. False with `error` set;
     * a missing model says "is not installed" so callers can add the setup
     * command that installs it. */
    bool load(const std::string &directory, int size, int threads, std::string &error) {
        inputSize = size;
        std::ifstream names(directory + "/coco.names");
        if (!names) {
            error = "the model is not installed in " + directory;
            return false;
        }
        for (std::string line; std::getline(names, line);) {
            if (!line.empty() && line.back() == '\r') line.pop_back(); /* a names file saved with CRLF */
            if (!line.empty()) labels.push_back(line);
        }
        char reason[512];
        std::string cfg = directory + "/yolov3-tiny.cfg", weights = directory + "/yolov3-tiny.weights";
        net.reset(vision_net_read_darknet(cfg.c_str(), weights.c_str(), threads, reason, sizeof reason));
        if (!net) {
            error = reason;
            return false;
        }
        blob.assign(3 * static_cast<size_t>(inputSize) * inputSize, 0.5f);
        int rows = 0, cols = 0;
        if (vision_net_forward(net.get(), blob.data(), 1, inputSize, inputSize, reason, sizeof reason) != 0 ||
            vision_net_output(net.get(), 0, &rows, &cols) == nullptr) {
            error = reason;
            return false;
        }
        if (labels.size() != static_cast<size_t>(cols - 5)) {
            error = "coco.names does not match the network's classes";
            return false;
        }
        return true;
    }

    /* The objects in `image`: boxes in fractions of the image, clipped to
     * it, at least `minScore`, after per-class NMS, most confident first.
     * False with `error` set. */
    bool detect(const vision_image &image, float minScore, float nmsThreshold, std::vector<vision_box> &found, std::string &error) {
        /* Pixels are RGB already, so no channel swap; Darknet wants 0..1. */
        static const float noMean[3] = {0, 0, 0}, unitStd[3] = {1, 1, 1};
        char reason[256];
        if (vision_blob(&image, inputSize, inputSize, VISION_FIT_STRETCH, 0, 1.0f / 255.0f, noMean, unitStd, 0, blob.data(), nullptr,
                        reason, sizeof reason) != 0 ||
            vision_net_forward(net.get(), blob.data(), 1, inputSize, inputSize, reason, sizeof reason) != 0) {
            error = reason;
            return false;
        }
        std::vector<vision_box> candidates(vision_yolo_candidates(net.get(), minScore, nullptr, 0));
        candidates.resize(vision_yolo_candidates(net.get(), minScore, candidates.data(), candidates.size()));
        std::vector<size_t> kept(candidates.size());
        kept.resize(vision_nms_per_class(candidates.data(), candidates.size(), minScore, nmsThreshold, kept.data()));
        found.clear();
        for (size_t k : kept) {
            vision_box box = candidates[k];
            if (box.class_id < 0 || static_cast<size_t>(box.class_id) >= labels.size()) continue;
            float right = std::min(1.0f, box.x + box.width), bottom = std::min(1.0f, box.y + box.height);
            box.x = std::max(0.0f, box.x);
            box.y = std::max(0.0f, box.y);
            box.width = right - box.x;
            box.height = bottom - box.y;
            if (box.width > 0 && box.height > 0) found.push_back(box);
        }
        return true;
    }
};

} // namespace describer_support

#endif
