/*
 * vision_net.cpp — the DNN side of vision.h: Darknet networks on OpenVINO
 * (built in memory by vision_darknet.cpp) or on OpenCV's own CPU backend,
 * YOLO decoding, and per-class non-maximum suppression. A separate object
 * so that functions that use none of it do not link libopencv_dnn.
 */
#include "vision.h"
#include "vision_darknet.hpp"
#include "vision_internal.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <opencv2/dnn.hpp>
#include <string>
#include <vector>

/* After OpenCV: OpenVINO's C header defines a BOOLEAN macro that would
 * rename one of OpenCV's enumerators. */
#include "openvino_runtime.hpp"

using vision_detail::guarded;
using vision_detail::report;

namespace {

/* The OpenVINO side of a network: its own core, the compiled network, and
 * what decoding its raw outputs needs. */
struct OpenVINOModel {
    const describer_support::OpenVINO *ov = nullptr;
    ov_core_t *core = nullptr;
    /* The IR's weights: OpenVINO may keep pointing into them after the
     * model is read, so they live as long as the network. */
    std::vector<uint8_t> weights;
    std::unique_ptr<describer_support::OpenVINONetwork> network;
    std::vector<vision_detail::YoloHead> heads;
    int width = 0, height = 0;
    /* The last forward pass's outputs, one per head. */
    std::vector<const float *> outputs;
    std::vector<std::vector<int64_t>> shapes;
    int batch = 0;

    ~OpenVINOModel() {
        network.reset();
        if (core != nullptr) ov->ov_core_free(core);
    }
};

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

} // namespace

struct vision_net {
    vision_backend backend = VISION_BACKEND_OPENVINO;
    /* OpenCV */
    cv::dnn::Net net;
    std::vector<std::string> outputNames;
    std::vector<cv::Mat> outputs;
    int batch = 0;
    /* OpenVINO */
    std::unique_ptr<OpenVINOModel> openvino;
};

namespace {

std::unique_ptr<OpenVINOModel> readWithOpenVINO(const char *cfgPath, const char *weightsPath, const vision_net_options &options) {
    std::string error;
    const describer_support::OpenVINO *ov =
        describer_support::openVINO(options.runtime_directory != nullptr ? options.runtime_directory : ".", error);
    if (ov == nullptr) throw std::runtime_error(error);
    vision_detail::DarknetIR ir = vision_detail::darknetToIR(cfgPath, weightsPath, options.width, options.height);

    auto model = std::make_unique<OpenVINOModel>();
    model->ov = ov;
    model->heads = ir.heads;
    model->width = ir.width;
    model->height = ir.height;
    model->weights = std::move(ir.weights);
    ov->check(ov->ov_core_create(&model->core), "OpenVINO could not start");

    const int64_t size = static_cast<int64_t>(model->weights.size());
    ov_shape_t shape{};
    ov->check(ov->ov_shape_create(1, &size, &shape), "bad weights shape");
    ov_tensor_t *weights = nullptr;
    ov_status_e status = ov->ov_tensor_create_from_host_ptr(U8, shape, model->weights.data(), &weights);
    ov->ov_shape_free(&shape);
    ov->check(status, "no weights tensor");
    ov_model_t *graph = nullptr;
    status = ov->ov_core_read_model_from_memory_buffer(model->core, ir.xml.data(), ir.xml.size(), weights, &graph);
    ov->ov_tensor_free(weights);
    ov->check(status, std::string("OpenVINO refused the network built from ") + cfgPath);
    model->network = std::make_unique<describer_support::OpenVINONetwork>();
    try {
        model->network->compile(*ov, model->core, graph, options.threads, cfgPath);
    } catch (...) {
        ov->ov_model_free(graph);
        throw;
    }
    ov->ov_model_free(graph);
    return model;
}

/* Darknet's decoding of a [yolo] layer's raw output for one image: for each
 * cell and anchor, the box centre is (cell + sigmoid(t)) / cells, its size
 * the anchor scaled by exp(t), and each class scores objectness times its
 * own sigmoid. */
size_t decodeHead(const OpenVINOModel &model, size_t head, size_t image, float minScore, vision_box *out, size_t capacity,
                  size_t found) {
    const vision_detail::YoloHead &yolo = model.heads[head];
    const std::vector<int64_t> &shape = model.shapes[head];
    const int64_t rows = shape[2], columns = shape[3], plane = rows * columns;
    const int64_t anchors = static_cast<int64_t>(yolo.anchors.size() / 2), stride = 5 + yolo.classes;
    const float *base = model.outputs[head] + image * static_cast<size_t>(shape[1] * plane);
    const float shift = (yolo.scaleXY - 1) / 2;
    for (int64_t a = 0; a < anchors; a++) {
        const float *channels = base + a * stride * plane;
        for (int64_t cell = 0; cell < plane; cell++) {
            /* A class's score is at most the objectness: most cells stop here. */
            float objectness = sigmoid(channels[4 * plane + cell]);
            if (objectness < minScore) continue;
            int best = 0;
            float bestLogit = channels[5 * plane + cell];
            for (int c = 1; c < yolo.classes; c++) {
                float logit = channels[(5 + c) * plane + cell];
                if (logit > bestLogit) bestLogit = logit, best = c;
            }
            float score = objectness * sigmoid(bestLogit);
            if (score < minScore) continue;
            if (found < capacity && out != nullptr) {
                const int64_t row = cell / columns, column = cell % columns;
                float x = (column + sigmoid(channels[cell]) * yolo.scaleXY - shift) / columns;
                float y = (row + sigmoid(channels[plane + cell]) * yolo.scaleXY - shift) / rows;
                float w = std::exp(channels[2 * plane + cell]) * yolo.anchors[2 * a] / model.width;
                float h = std::exp(channels[3 * plane + cell]) * yolo.anchors[2 * a + 1] / model.height;
                out[found] = {x - w / 2, y - h / 2, w, h, score, best};
            }
            found++;
        }
    }
    return found;
}

} // namespace

extern "C" {

vision_net *vision_net_read_darknet(const char *cfgPath, const char *weightsPath, const vision_net_options *options,
                                    char *error, size_t errorSize) {
    if (cfgPath == nullptr || weightsPath == nullptr || options == nullptr) {
        report(error, errorSize, "vision_net_read_darknet: no files or no options");
        return nullptr;
    }
    vision_net *result = nullptr;
    guarded(error, errorSize, [&] {
        auto net = std::make_unique<vision_net>();
        net->backend = options->backend;
        if (options->backend == VISION_BACKEND_OPENVINO) {
            net->openvino = readWithOpenVINO(cfgPath, weightsPath, *options);
        } else if (options->backend == VISION_BACKEND_OPENCV) {
            net->net = cv::dnn::readNetFromDarknet(cfgPath, weightsPath);
            net->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
            net->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
            net->outputNames = net->net.getUnconnectedOutLayersNames();
            if (options->threads > 0) cv::setNumThreads(options->threads);
        } else {
            throw std::runtime_error("unknown backend");
        }
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
        net->batch = 0;
        if (net->openvino) {
            OpenVINOModel &model = *net->openvino;
            if (height != model.height || width != model.width) {
                throw std::runtime_error("the network was built for " + std::to_string(model.width) + "x" +
                                         std::to_string(model.height) + " input");
            }
            model.batch = 0;
            /* OpenVINO only reads the input, but its tensor type is not const. */
            model.network->run(const_cast<float *>(input), {batch, 3, height, width});
            model.outputs.assign(model.heads.size(), nullptr);
            model.shapes.assign(model.heads.size(), {});
            for (size_t h = 0; h < model.heads.size(); h++) {
                model.outputs[h] = model.network->output(h, model.shapes[h]);
                const std::vector<int64_t> &shape = model.shapes[h];
                const vision_detail::YoloHead &head = model.heads[h];
                if (shape.size() != 4 || shape[0] != batch ||
                    shape[1] != static_cast<int64_t>(head.anchors.size() / 2) * (5 + head.classes) || shape[2] != head.rows ||
                    shape[3] != head.columns) {
                    throw std::runtime_error("unexpected output shape from the network");
                }
            }
            model.batch = batch;
        } else {
            const int shape[4] = {batch, 3, height, width};
            /* setInput copies, so the caller's buffer is only borrowed. */
            net->net.setInput(cv::Mat(4, shape, CV_32F, const_cast<float *>(input)));
            net->outputs.clear();
            net->net.forward(net->outputs, net->outputNames);
        }
        net->batch = batch;
        return 0;
    });
}

size_t vision_net_output_count(const vision_net *net) {
    if (net == nullptr) return 0;
    return net->openvino ? net->openvino->outputs.size() : net->outputs.size();
}

const float *vision_net_output(const vision_net *net, size_t index, int *rows, int *cols) {
    if (net == nullptr || index >= vision_net_output_count(net)) return nullptr;
    if (net->openvino) {
        const std::vector<int64_t> &shape = net->openvino->shapes[index];
        *rows = static_cast<int>(shape[0]);
        *cols = static_cast<int>(shape[1] * shape[2] * shape[3]);
        return net->openvino->outputs[index];
    }
    const cv::Mat &output = net->outputs[index];
    if (!output.isContinuous() || output.dims < 1) return nullptr;
    /* The last dimension is a candidate's values; a batch of several images
     * adds a leading one (images x candidates x values), which is read as
     * the images' candidates one after another. */
    *cols = output.dims == 1 ? static_cast<int>(output.total()) : output.size[output.dims - 1];
    *rows = static_cast<int>(output.total() / std::max(1, *cols));
    return output.ptr<float>();
}

int vision_yolo_class_count(const vision_net *net) {
    if (net == nullptr) return -1;
    if (net->openvino) return net->openvino->heads.empty() ? -1 : net->openvino->heads[0].classes;
    int rows = 0, cols = 0;
    return vision_net_output(net, 0, &rows, &cols) == nullptr ? -1 : cols - 5;
}

size_t vision_yolo_candidates(const vision_net *net, size_t image, float minScore, vision_box *out, size_t capacity) {
    if (net == nullptr || image >= static_cast<size_t>(net->batch)) return 0;
    size_t found = 0;
    if (net->openvino) {
        for (size_t h = 0; h < net->openvino->heads.size(); h++) found = decodeHead(*net->openvino, h, image, minScore, out, capacity, found);
        return found;
    }
    for (size_t o = 0; o < net->outputs.size(); o++) {
        int rows = 0, cols = 0;
        const float *output = vision_net_output(net, o, &rows, &cols);
        /* A row: centre, size, objectness, then one score per class; the
         * batch's images one after another. */
        if (output == nullptr || cols <= 5 || rows % net->batch != 0) continue;
        const int perImage = rows / net->batch;
        for (int row = static_cast<int>(image) * perImage; row < (static_cast<int>(image) + 1) * perImage; row++) {
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
