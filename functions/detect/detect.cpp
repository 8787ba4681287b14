/*
 * detect — finds people, vehicles, animals and everyday objects in a photo.
 *
 * YOLOv3-tiny (COCO, 80 classes) behind the Describer C ABI, on the
 * OpenVINO runtime (the Darknet files turned into OpenVINO's format in
 * memory by the vision library) or, with the option backend: opencv, on
 * OpenCV's DNN module. The model files live in model/ next to the library
 * (installed by fetch-model; see MODELS.md at the top of the repository).
 *
 * Input: RGB8 pixels, scaled by the host to fit 832x832, then stretched to
 * the network's square input (input_size, 416 by default). A batch of
 * images goes through the network in one forward pass.
 * Output: application/json
 *   {"objects": [{"label": "dog", "confidence": 0.83,
 *                 "box": {"x": 0.16, "y": 0.38, "width": 0.28, "height": 0.55},
 *                 "pixels": {"x": 124, "y": 219, "width": 215, "height": 317},
 *                 "hedged": false}, ...],
 *    "text": "A dog, a bicycle and a car."}
 * "box" is in fractions of the image's width and height, so it holds at any
 * scale; "pixels" is the same box in the pixels of the picture as sent
 * (before the host scaled it to fit), given when the host says that size
 * (ABI 1.1). `text` is an English summary for describers; animals' species are
 * worded cautiously, because this model confuses them. "hedged" says whether
 * `text` names the object's kind with a hedge ("may be", "uncertain").
 * Request options: min_confidence (0.05..1, default from options); verbosity
 * (brief | normal | detailed: how much `text` says, see summary()).
 */
#include "describer_function.h"
#include "function_support.hpp"
#include "vision.h"
#include "yolo_model.hpp"


#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace {

using namespace describer_support;

const describer_function_info info = [] {
    describer_function_info i{};
    i.struct_size = sizeof(describer_function_info);
    i.abi_major = DESCRIBER_ABI_VERSION_MAJOR;
    i.abi_minor = DESCRIBER_ABI_VERSION_MINOR;
    i.name = "detect";
    i.version = "1.0.0";
    /* One network and one inference request per instance, so no
     * REENTRANT. A batch is one forward pass. */
    i.capabilities = DESCRIBER_CAP_BATCH;
    i.input_kind = DESCRIBER_INPUT_RGB8;
    i.max_width = 832;
    i.max_height = 832;
    i.max_batch_size = 8;
    return i;
}();

struct Instance {
    const describer_host *host;
    YoloModel model;
    float minConfidence = 0.25f;
    float nmsThreshold = 0.45f;
};

/* "a dog", "two dogs", "an apple"; counts above nine as digits. */
std::string counted(const std::string &label, int count) {
    static const char *const numbers[] = {"no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
    std::string noun = label;
    if (count > 1) {
        if (noun == "person") noun = "people";
        else if (noun == "sheep" || noun == "skis" || noun == "scissors") {
        } else if (noun.back() == 's' || noun.back() == 'h') noun += "es";
        else noun += "s";
        return (count <= 9 ? numbers[count] : std::to_string(count)) + std::string(" ") + noun;
    }
    const char first = noun.empty() ? 'x' : noun[0];
    bool vowel = std::strchr("aeiou", first) != nullptr;
    return std::string(vowel ? "an " : "a ") + noun;
}

bool isAnimal(const std::string &label) {
    static const char *const animals[] = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"};
    return std::any_of(std::begin(animals), std::end(animals), [&](const char *a) { return label == a; });
}

struct Detection {
    int classId;
    float confidence;
    cv::Rect2f box; /* fractions of the image */
};

/* How much to say, from the request's `verbosity` option (normal without it). */
enum class Verbosity { brief, normal, detailed };

Verbosity readVerbosity(const describer_request &request) {
    std::string value = jsonString(request.options_json, request.options_size, "verbosity", "normal");
    if (value == "brief") return Verbosity::brief;
    if (value == "detailed") return Verbosity::detailed;
    return Verbosity::normal;
}

/* Where a box is, in words a listener can picture: left, centre or right by
 * its centre's third of the width, then near or far by its share of the
 * image's area (a rough proxy: a big thing far away also looks small).
 * "on the left, close", "in the centre", "on the right, in the distance". */
std::string position(const cv::Rect2f &box) {
    float centre = box.x + box.width / 2;
    std::string where = centre < 1.0f / 3 ? "on the left" : centre > 2.0f / 3 ? "on the right" : "in the centre";
    float area = box.width * box.height;
    if (area >= 0.2f) where += ", close";
    else if (area < 0.02f) where += ", in the distance";
    return where;
}

/* One kind of thing found: its label, how many, the best confidence, and
 * the boxes, largest first. */
struct Kind {
    std::string label;
    std::vector<cv::Rect2f> boxes;
    float bestConfidence = 0;
    /* This model often mistakes one animal for another, and any class is
     * unreliable below 0.4: both are said with a hedge. */
    bool hedgedAnimal() const { return isAnimal(label) && bestConfidence < 0.8f; }
    bool uncertain() const { return !hedgedAnimal() && bestConfidence < 0.4f; }
};

std::string capitalised(std::string text) {
    if (!text.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
    return text;
}

/* "a", "a and b", "a, b and c". */
std::string joined(const std::vector<std::string> &phrases) {
    std::string text = phrases.empty() ? "" : phrases[0];
    for (size_t i = 1; i < phrases.size(); i++) text += (i + 1 == phrases.size() ? " and " : ", ") + phrases[i];
    return text;
}

/* How one kind is named in the list: "two dogs", "an animal that may be a
 * dog", "a bicycle (uncertain)". */
std::string listed(const Kind &kind) {
    int count = static_cast<int>(kind.boxes.size());
    if (kind.hedgedAnimal()) {
        return count == 1 ? "an animal that may be " + counted(kind.label, 1) : "animals that may be " + counted(kind.label, count);
    }
    return counted(kind.label, count) + (kind.uncertain() ? " (uncertain)" : "");
}

/* How one kind is named again when placed: "the dog", "the possible dog",
 * "the nearest possible dog". */
std::string named(const Kind &kind, const std::string &which = "") {
    return "the " + which + (kind.hedgedAnimal() || kind.uncertain() ? "possible " : "") + kind.label;
}

/* Where every thing of one kind is: "The dog is on the left, close." or
 * "Three people: one on the left, close; one in the centre; one on the right." */
std::string placed(const Kind &kind) {
    if (kind.boxes.size() == 1) return capitalised(named(kind)) + " is " + position(kind.boxes[0]) + ".";
    const size_t shown = std::min<size_t>(kind.boxes.size(), 6);
    std::string text = capitalised(counted(kind.label, static_cast<int>(kind.boxes.size()))) + ":";
    for (size_t i = 0; i < shown; i++) text += std::string(i ? ";" : "") + " one " + position(kind.boxes[i]);
    if (kind.boxes.size() > shown) text += "; and " + std::to_string(kind.boxes.size() - shown) + " more";
    return text + ".";
}

/* The English summary, in a fixed order a listener can learn:
 *   brief     one sentence naming at most three kinds of thing;
 *   normal    every kind, then where the biggest (so probably nearest) thing is;
 *   detailed  every kind, then where each thing of each kind is.
 * People come first, then everything else, most confident first, so the
 * likeliest things are heard first. */
std::string summary(const Instance &instance, const std::vector<Detection> &found, const describer_request &request) {
    if (found.empty()) return "";
    std::map<std::string, Kind> byLabel;
    for (const auto &d : found) {
        Kind &kind = byLabel[instance.model.labels[d.classId]];
        kind.label = instance.model.labels[d.classId];
        kind.boxes.push_back(d.box);
        kind.bestConfidence = std::max(kind.bestConfidence, d.confidence);
    }
    std::vector<Kind> kinds;
    for (auto &[label, kind] : byLabel) {
        std::stable_sort(kind.boxes.begin(), kind.boxes.end(),
                         [](const cv::Rect2f &a, const cv::Rect2f &b) { return a.area() > b.area(); });
        kinds.push_back(kind);
    }
    std::stable_sort(kinds.begin(), kinds.end(), [](const Kind &a, const Kind &b) {
        bool aPerson = a.label == "person", bPerson = b.label == "person";
        if (aPerson != bPerson) return aPerson;
        return a.bestConfidence > b.bestConfidence;
    });
    Verbosity verbosity = readVerbosity(request);
    const size_t listedKinds = verbosity == Verbosity::brief ? std::min<size_t>(kinds.size(), 3) : kinds.size();
    std::vector<std::string> phrases;
    for (size_t i = 0; i < listedKinds; i++) phrases.push_back(listed(kinds[i]));
    if (kinds.size() > listedKinds) phrases.push_back("other things");
    std::string text = capitalised(joined(phrases)) + ".";
    if (verbosity == Verbosity::normal) {
        const Kind *biggest = &kinds[0];
        for (const Kind &kind : kinds) {
            if (kind.boxes[0].area() > biggest->boxes[0].area()) biggest = &kind;
        }
        text += " " + capitalised(named(*biggest, biggest->boxes.size() == 1 ? "" : "nearest ")) + " is " +
                position(biggest->boxes[0]) + ".";
    } else if (verbosity == Verbosity::detailed) {
        for (const Kind &kind : kinds) text += " " + placed(kind);
    }
    return text;
}

/* The JSON answer for one image's boxes. With the size of the picture as
 * sent (ABI 1.1), each box is also given in its pixels. */
std::string answer(const Instance &instance, const std::vector<vision_box> &boxes, const describer_request &request) {
    const double sourceWidth = request.source_width, sourceHeight = request.source_height;
    std::vector<Detection> found;
    for (const vision_box &b : boxes) found.push_back({b.class_id, b.score, cv::Rect2f(b.x, b.y, b.width, b.height)});
    std::sort(found.begin(), found.end(), [](const Detection &a, const Detection &b) { return a.confidence > b.confidence; });

    /* Hedged as the summary hedges: by the kind's best confidence. */
    std::map<std::string, Kind> byLabel;
    for (const Detection &d : found) {
        Kind &kind = byLabel[instance.model.labels[d.classId]];
        kind.label = instance.model.labels[d.classId];
        kind.bestConfidence = std::max(kind.bestConfidence, d.confidence);
    }

    std::string json = "{\"objects\":[";
    char numbers[160];
    for (size_t i = 0; i < found.size(); i++) {
        const Detection &d = found[i];
        /* The label goes in as a string, so no name can be cut short. */
        json += (i ? ",{\"label\":\"" : "{\"label\":\"") + jsonEscape(instance.model.labels[d.classId]) + "\",";
        std::snprintf(numbers, sizeof numbers,
                      "\"confidence\":%.3f,\"box\":{\"x\":%.4f,\"y\":%.4f,\"width\":%.4f,\"height\":%.4f}", d.confidence,
                      d.box.x, d.box.y, d.box.width, d.box.height);
        json += numbers;
        if (sourceWidth > 0 && sourceHeight > 0) {
            /* Edges rounded to whole pixels, so the box stays inside the picture. */
            long left = std::lround(d.box.x * sourceWidth), top = std::lround(d.box.y * sourceHeight);
            long right = std::lround((d.box.x + d.box.width) * sourceWidth), bottom = std::lround((d.box.y + d.box.height) * sourceHeight);
            std::snprintf(numbers, sizeof numbers, ",\"pixels\":{\"x\":%ld,\"y\":%ld,\"width\":%ld,\"height\":%ld}", left, top,
                          right - left, bottom - top);
            json += numbers;
        }
        const Kind &kind = byLabel[instance.model.labels[d.classId]];
        json += kind.hedgedAnimal() || kind.uncertain() ? ",\"hedged\":true}" : ",\"hedged\":false}";
    }
    return json + "],\"text\":\"" + jsonEscape(summary(instance, found, request)) + "\"}";
}

/* A batch goes through the network in one forward pass: the requests with
 * pixels together, each with its own min_confidence; each gets its own
 * answer or failure. */
void detectBatch(Instance &instance, describer_call *call, const describer_request *requests, size_t count) {
    const describer_host *host = instance.host;
    std::vector<size_t> indices;
    std::vector<vision_image> images;
    std::vector<float> minScores;
    for (size_t i = 0; i < count; i++) {
        const describer_request &request = *describer_request_at(requests, i);
        if (request.width == 0 || request.height == 0 || request.data == nullptr) {
            fail(host, call, i, DESCRIBER_STATUS_INVALID_INPUT, "detect needs decoded RGB8 pixels");
            continue;
        }
        indices.push_back(i);
        images.push_back({request.data, request.width, request.height, request.stride});
        minScores.push_back(static_cast<float>(
            jsonNumber(request.options_json, request.options_size, "min_confidence", instance.minConfidence)));
    }
    if (indices.empty()) return;
    std::vector<std::vector<vision_box>> boxes;
    std::string error;
    if (!instance.model.detect(images, minScores, instance.nmsThreshold, boxes, error)) {
        for (size_t i : indices) fail(host, call, i, DESCRIBER_STATUS_FAILED, "detection failed: " + error);
        return;
    }
    for (size_t k = 0; k < indices.size(); k++) {
        const size_t i = indices[k];
        if (host->expired(call, i)) {
            fail(host, call, i, DESCRIBER_STATUS_DEADLINE, "the deadline passed during detection");
            continue;
        }
        try {
            std::string json = answer(instance, boxes[k], *describer_request_at(requests, i));
            host->respond(call, i, "application/json", reinterpret_cast<const uint8_t *>(json.data()), json.size());
        } catch (const std::exception &failure) {
            fail(host, call, i, DESCRIBER_STATUS_FAILED, std::string("detection failed: ") + failure.what());
        }
    }
}

} // namespace

extern "C" {

DESCRIBER_EXPORT const describer_function_info *describer_function_get_info(void) { return &info; }

DESCRIBER_EXPORT int describer_instance_create(const describer_host *host, describer_call *call, const char *options,
                                               size_t optionsSize, void **outInstance) {
    try {
        auto instance = std::make_unique<Instance>();
        instance->host = host;
        instance->minConfidence = static_cast<float>(jsonNumber(options, optionsSize, "min_confidence", 0.25));
        instance->nmsThreshold = static_cast<float>(jsonNumber(options, optionsSize, "nms_threshold", 0.45));
        std::string error;
        if (describer_status status = instance->model.start(options, optionsSize, "model", error); status != DESCRIBER_STATUS_OK) {
            fail(host, call, 0, status, error);
            return 1;
        }
        *outInstance = instance.release();
        return 0;
    } catch (const std::exception &error) {
        fail(host, call, 0, DESCRIBER_STATUS_FAILED, std::string("the detector could not start: ") + error.what());
        return 1;
    }
}

DESCRIBER_EXPORT int describer_instance_process(void *opaque, describer_call *call, const describer_request *requests,
                                                size_t count) {
    auto &instance = *static_cast<Instance *>(opaque);
    try {
        detectBatch(instance, call, requests, count);
    } catch (...) {
        /* Out of memory, say: the host fails every item not yet answered. */
        return 1;
    }
    return 0;
}

DESCRIBER_EXPORT void describer_instance_destroy(void *opaque) { delete static_cast<Instance *>(opaque); }

} // extern "C"
