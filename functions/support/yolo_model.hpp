/*
 * yolo_model.hpp — YOLOv3-tiny as `detect` and `security-events` run it:
 * the Darknet files of one folder (yolov3-tiny.cfg, yolov3-tiny.weights,
 * coco.names), one network per instance (on OpenVINO unless the function's
 * options choose OpenCV), the whole image stretched to the network's square
 * input, candidates filtered per class by NMS. On top of the vision library
 * (vision.h); header-only C++, so each function links its own copy and
 * nothing is shared at run time.
 */
#ifndef DESCRIBER_YOLO_MODEL_HPP
#define DESCRIBER_YOLO_MODEL_HPP

#include "function_support.hpp"
#include "vision.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace describer_support {

/* The engine named by a function's `backend` option. */
inline bool parseBackend(const std::string &name, vision_backend &backend) {
    if (name == "openvino") backend = VISION_BACKEND_OPENVINO;
    else if (name == "opencv") backend = VISION_BACKEND_OPENCV;
    else return false;
    return true;
}

struct YoloModel {
    std::unique_ptr<vision_net, decltype(&vision_net_free)> net{nullptr, vision_net_free};
    std::vector<std::string> labels;
    std::vector<float> blob; /* the network's input, reused between requests */
    int inputSize = 416;

    /* Loads the model in `directory` for `options` (whose width and height
     * are the square input size) and runs one pass, so the first request
     * does not pay for the engine's lazy initialisation. False with `error`
     * set; a missing model says "is not installed" so callers can add the
     * setup command that installs it. */
    bool load(const std::string &directory, const vision_net_options &options, std::string &error) {
        inputSize = options.width;
        std::ifstream names(directory + "/coco.names");
        if (!names) {
            error = "the model is not installed in " + directory;
            return false;
        }
        for (std::string line; std::getline(names, line);) {
            if (!line.empty() && line.back() == '\r') line.pop_back(); /* a names file saved with CRLF */
            if (!line.empty()) labels.push_back(line);
        }
        char reason[1024];
        std::string cfg = directory + "/yolov3-tiny.cfg", weights = directory + "/yolov3-tiny.weights";
        net.reset(vision_net_read_darknet(cfg.c_str(), weights.c_str(), &options, reason, sizeof reason));
        if (!net) {
            error = reason;
            return false;
        }
        blob.assign(3 * static_cast<size_t>(inputSize) * inputSize, 0.5f);
        if (vision_net_forward(net.get(), blob.data(), 1, inputSize, inputSize, reason, sizeof reason) != 0) {
            error = reason;
            return false;
        }
        if (labels.size() != static_cast<size_t>(vision_yolo_class_count(net.get()))) {
            error = "coco.names does not match the network's classes";
            return false;
        }
        return true;
    }

    /* The objects in each of `images`, in one forward pass: boxes in
     * fractions of the image, clipped to it, at least that image's
     * `minScores` entry, after per-class NMS, most confident first. False
     * with `error` set. */
    bool detect(const std::vector<vision_image> &images, const std::vector<float> &minScores, float nmsThreshold,
                std::vector<std::vector<vision_box>> &found, std::string &error) {
        /* Pixels are RGB already, so no channel swap; Darknet wants 0..1. */
        static const float noMean[3] = {0, 0, 0}, unitStd[3] = {1, 1, 1};
        const size_t plane = 3 * static_cast<size_t>(inputSize) * inputSize;
        if (blob.size() < plane * images.size()) blob.resize(plane * images.size());
        char reason[256];
        for (size_t i = 0; i < images.size(); i++) {
            if (vision_blob(&images[i], inputSize, inputSize, VISION_FIT_STRETCH, 0, 1.0f / 255.0f, noMean, unitStd, 0,
                            blob.data() + i * plane, nullptr, reason, sizeof reason) != 0) {
                error = reason;
                return false;
            }
        }
        if (vision_net_forward(net.get(), blob.data(), static_cast<int>(images.size()), inputSize, inputSize, reason,
                               sizeof reason) != 0) {
            error = reason;
            return false;
        }
        found.assign(images.size(), {});
        for (size_t i = 0; i < images.size(); i++) {
            std::vector<vision_box> candidates(vision_yolo_candidates(net.get(), i, minScores[i], nullptr, 0));
            candidates.resize(vision_yolo_candidates(net.get(), i, minScores[i], candidates.data(), candidates.size()));
            std::vector<size_t> kept(candidates.size());
            kept.resize(vision_nms_per_class(candidates.data(), candidates.size(), minScores[i], nmsThreshold, kept.data()));
            for (size_t k : kept) {
                vision_box box = candidates[k];
                if (box.class_id < 0 || static_cast<size_t>(box.class_id) >= labels.size()) continue;
                float right = std::min(1.0f, box.x + box.width), bottom = std::min(1.0f, box.y + box.height);
                box.x = std::max(0.0f, box.x);
                box.y = std::max(0.0f, box.y);
                box.width = right - box.x;
                box.height = bottom - box.y;
                if (box.width > 0 && box.height > 0) found[i].push_back(box);
            }
        }
        return true;
    }

    /* Loads the model as a function's instance options say:
     *   model_directory    the Darknet files (default `defaultDirectory`);
     *   backend            openvino (default) or opencv;
     *   runtime_directory  OpenVINO's runtime (default ../openvino/runtime);
     *   input_size         the network's square input, 320..608 in steps of 32 (default 416);
     *   threads            inference threads, 0 = one per core.
     * Folders are relative to the function's library. Anything but OK
     * comes with `error` set: INVALID_INPUT for a bad option, FAILED
     * otherwise (a model that is not installed says so and names the setup
     * command). */
    describer_status start(const char *options, size_t size, const char *defaultDirectory, std::string &error) {
        vision_net_options settings{};
        if (!parseBackend(jsonString(options, size, "backend", "openvino"), settings.backend)) {
            error = "options: backend must be openvino or opencv";
            return DESCRIBER_STATUS_INVALID_INPUT;
        }
        int input = static_cast<int>(jsonNumber(options, size, "input_size", 416));
        if (input < 320 || input > 608 || input % 32 != 0) {
            error = "options: input_size must be 320..608 in steps of 32, not " + std::to_string(input);
            return DESCRIBER_STATUS_INVALID_INPUT;
        }
        settings.width = settings.height = input;
        settings.threads = std::max(0, static_cast<int>(jsonNumber(options, size, "threads", 0)));
        std::string runtime = folderOption(options, size, "runtime_directory", "../openvino/runtime") + "/lib";
        settings.runtime_directory = runtime.c_str();
        std::string directory = folderOption(options, size, "model_directory", defaultDirectory);
        if (load(directory, settings, error)) return DESCRIBER_STATUS_OK;
        if (error.find("is not installed") != std::string::npos) {
            error += " (make -C functions/detect, which scripts/setup runs, installs it)";
        } else {
            error = "the detector could not start: " + error;
        }
        return DESCRIBER_STATUS_FAILED;
    }

    /* detect() for one image. */
    bool detect(const vision_image &image, float minScore, float nmsThreshold, std::vector<vision_box> &found, std::string &error) {
        std::vector<std::vector<vision_box>> all;
        if (!detect({image}, {minScore}, nmsThreshold, all, error)) return false;
        found = std::move(all[0]);
        return true;
    }
};

} // namespace describer_support

#endif
