/*
 * security-events — what happened in one camera snapshot: motion, people,
 * vehicles and animals, the zones they stand in, and which of them have not
 * moved (a parked car). The contract with the camera service is
 * Sources/Cameras/Events/SECURITY-EVENTS.md.
 *
 * Instances are stateless: what the function remembers about a camera
 * travels in the `state` option and answer (base64 of the format below), so
 * one instance serves every camera and a batch may mix cameras.
 *
 * - Objects: YOLOv3-tiny, the same model files as `detect` (its
 *   model_directory), through the shared vision library.
 * - Motion: a 64 x 48 grey thumbnail against the camera's background
 *   (a running average kept in the state); the changed cells' bounding box.
 * - Stationary: an object overlapping (IoU >= 0.6) an object of the same
 *   label in one of the camera's last three snapshots.
 * - Zones: those holding the box's bottom centre, where the object stands.
 */
#include "describer_function.h"
#include "function_support.hpp"
#include "vision.h"
#include "yolo_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace describer_support;

const describer_function_info info = [] {
    describer_function_info i{};
    i.struct_size = sizeof(describer_function_info);
    i.abi_major = DESCRIBER_ABI_VERSION_MAJOR;
    i.abi_minor = DESCRIBER_ABI_VERSION_MINOR;
    i.name = "security-events";
    i.version = "1.0.0";
    /* One network and one inference request per instance, so no
     * REENTRANT; a batch, of any cameras, is run snapshot by snapshot (each
     * carries its own camera's state, and the camera service sends one
     * event at a time anyway). */
    i.capabilities = DESCRIBER_CAP_BATCH;
    i.input_kind = DESCRIBER_INPUT_RGB8;
    i.max_width = 832;
    i.max_height = 832;
    i.max_batch_size = 8;
    return i;
}();

constexpr int thumbnailWidth = 64, thumbnailHeight = 48;
constexpr size_t thumbnailSize = thumbnailWidth * thumbnailHeight;
constexpr size_t historyFrames = 3;
constexpr size_t maxObjectsPerFrame = 64;

/* ---- A small JSON reader, for the camera context (nested arrays of zones). */

struct Json {
    enum Kind { null, boolean, number, string, array, object } kind = null;
    double value = 0;
    std::string text;
    std::vector<Json> items;
    std::vector<std::pair<std::string, Json>> members;

    const Json *operator[](const char *key) const {
        for (const auto &[name, member] : members) {
            if (name == key) return &member;
        }
        return nullptr;
    }
};

struct JsonReader {
    const char *at, *end;
    int depth = 0;

    void space() {
        while (at < end && (*at == ' ' || *at == '\n' || *at == '\r' || *at == '\t')) at++;
    }
    bool literal(const char *word, Json::Kind kind, Json &out) {
        size_t n = std::strlen(word);
        if (static_cast<size_t>(end - at) < n || std::strncmp(at, word, n) != 0) return false;
        at += n;
        out.kind = kind;
        out.value = word[0] == 't';
        return true;
    }
    bool string(std::string &out) {
        if (at >= end || *at != '"') return false;
        for (at++; at < end && *at != '"'; at++) {
            if (*at != '\\') {
                out += *at;
                continue;
            }
            if (++at >= end) return false;
            switch (*at) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'u': {
                if (end - at < 5) return false;
                unsigned code = std::strtoul(std::string(at + 1, at + 5).c_str(), nullptr, 16);
                /* Names are the only strings read; non-ASCII becomes UTF-8 (no surrogate pairs needed here). */
                if (code < 0x80) out += static_cast<char>(code);
                else if (code < 0x800) out += {static_cast<char>(0xC0 | (code >> 6)), static_cast<char>(0x80 | (code & 0x3F))};
                else out += {static_cast<char>(0xE0 | (code >> 12)), static_cast<char>(0x80 | ((code >> 6) & 0x3F)), static_cast<char>(0x80 | (code & 0x3F))};
                at += 4;
                break;
            }
            default: out += *at;
            }
        }
        if (at >= end) return false;
        at++;
        return true;
    }
    bool value(Json &out) {
        if (++depth > 32) return false;
        space();
        if (at >= end) return false;
        bool ok = false;
        if (*at == '{') {
            out.kind = Json::object;
            at++;
            space();
            if (at < end && *at == '}') {
                at++;
                ok = true;
            } else {
                while (true) {
                    space();
                    std::string key;
                    Json member;
                    if (!string(key)) break;
                    space();
                    if (at >= end || *at != ':') break;
                    at++;
                    if (!value(member)) break;
                    out.members.emplace_back(std::move(key), std::move(member));
                    space();
                    if (at < end && *at == ',') { at++; continue; }
                    if (at < end && *at == '}') { at++; ok = true; }
                    break;
                }
            }
        } else if (*at == '[') {
            out.kind = Json::array;
            at++;
            space();
            if (at < end && *at == ']') {
                at++;
                ok = true;
            } else {
                while (true) {
                    Json item;
                    if (!value(item)) break;
                    out.items.push_back(std::move(item));
                    space();
                    if (at < end && *at == ',') { at++; continue; }
                    if (at < end && *at == ']') { at++; ok = true; }
                    break;
                }
            }
        } else if (*at == '"') {
            out.kind = Json::string;
            ok = string(out.text);
        } else if (literal("true", Json::boolean, out) || literal("false", Json::boolean, out) || literal("null", Json::null, out)) {
            ok = true;
        } else {
            char *stop = nullptr;
            std::string number(at, std::min<size_t>(end - at, 64));
            out.value = std::strtod(number.c_str(), &stop);
            if (stop != number.c_str()) {
                at += stop - number.c_str();
                out.kind = Json::number;
                ok = std::isfinite(out.value);
            }
        }
        depth--;
        return ok;
    }
};

bool parseJson(const std::string &text, Json &out) {
    JsonReader reader{text.data(), text.data() + text.size()};
    if (!reader.value(out)) return false;
    reader.space();
    return reader.at == reader.end;
}

/* ---- Base64, for the state. */

const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64Encode(const std::vector<uint8_t> &bytes) {
    std::string out;
    for (size_t i = 0; i < bytes.size(); i += 3) {
        uint32_t chunk = bytes[i] << 16 | (i + 1 < bytes.size() ? bytes[i + 1] << 8 : 0) | (i + 2 < bytes.size() ? bytes[i + 2] : 0);
        out += alphabet[chunk >> 18 & 63];
        out += alphabet[chunk >> 12 & 63];
        out += i + 1 < bytes.size() ? alphabet[chunk >> 6 & 63] : '=';
        out += i + 2 < bytes.size() ? alphabet[chunk & 63] : '=';
    }
    return out;
}

bool base64Decode(const std::string &text, std::vector<uint8_t> &out) {
    uint32_t chunk = 0;
    int bits = 0;
    for (char c : text) {
        if (c == '=') break;
        const char *found = std::strchr(alphabet, c);
        if (c == '\0' || found == nullptr) return false;
        chunk = chunk << 6 | static_cast<uint32_t>(found - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>(chunk >> bits & 0xFF));
        }
    }
    return true;
}

/* ---- The camera's state: "SEV1", the background thumbnail, then the last
 * frames' objects (count, then label index u16 and four floats each). */

struct Seen {
    uint16_t label;
    float x, y, width, height;
};

struct CameraState {
    std::vector<uint8_t> background; /* thumbnailSize bytes, or empty: none yet */
    std::vector<std::vector<Seen>> history; /* newest last */
};

template <typename T> void put(std::vector<uint8_t> &out, T value) {
    const auto *bytes = reinterpret_cast<const uint8_t *>(&value);
    out.insert(out.end(), bytes, bytes + sizeof value);
}

template <typename T> bool take(const std::vector<uint8_t> &in, size_t &at, T &value) {
    if (in.size() - at < sizeof value) return false;
    std::memcpy(&value, in.data() + at, sizeof value);
    at += sizeof value;
    return true;
}

std::vector<uint8_t> encodeState(const CameraState &state) {
    std::vector<uint8_t> out(4 + state.background.size());
    std::memcpy(out.data(), "SEV1", 4);
    std::copy(state.background.begin(), state.background.end(), out.begin() + 4);
    put<uint8_t>(out, static_cast<uint8_t>(state.history.size()));
    for (const auto &frame : state.history) {
        put<uint8_t>(out, static_cast<uint8_t>(frame.size()));
        /* Field by field: the struct's padding must not reach the state. */
        for (const Seen &seen : frame) {
            put(out, seen.label), put(out, seen.x), put(out, seen.y), put(out, seen.width), put(out, seen.height);
        }
    }
    return out;
}

/* An unusable state is no error (the contract): the camera starts afresh. */
CameraState decodeState(const std::string &base64) {
    CameraState state;
    std::vector<uint8_t> bytes;
    if (base64.empty() || !base64Decode(base64, bytes) || bytes.size() < 4 + thumbnailSize + 1 ||
        std::memcmp(bytes.data(), "SEV1", 4) != 0) {
        return state;
    }
    size_t at = 4;
    std::vector<uint8_t> background(bytes.begin() + 4, bytes.begin() + 4 + thumbnailSize);
    at += thumbnailSize;
    uint8_t frames = 0;
    if (!take(bytes, at, frames) || frames > historyFrames) return state;
    std::vector<std::vector<Seen>> history;
    for (uint8_t f = 0; f < frames; f++) {
        uint8_t count = 0;
        if (!take(bytes, at, count) || count > maxObjectsPerFrame) return state;
        std::vector<Seen> frame(count);
        for (Seen &seen : frame) {
            if (!take(bytes, at, seen.label) || !take(bytes, at, seen.x) || !take(bytes, at, seen.y) || !take(bytes, at, seen.width) ||
                !take(bytes, at, seen.height)) {
                return state;
            }
        }
        history.push_back(std::move(frame));
    }
    state.background = std::move(background);
    state.history = std::move(history);
    return state;
}

/* ---- Geometry. */

struct Zone {
    std::string name;
    std::vector<std::pair<double, double>> polygon;
};

/* Ray casting: is (x, y) inside the polygon? */
bool inside(const Zone &zone, double x, double y) {
    bool in = false;
    const auto &p = zone.polygon;
    for (size_t i = 0, j = p.size() - 1; i < p.size(); j = i++) {
        if ((p[i].second > y) != (p[j].second > y) &&
            x < (p[j].first - p[i].first) * (y - p[i].second) / (p[j].second - p[i].second) + p[i].first) {
            in = !in;
        }
    }
    return in;
}

float overlap(const Seen &a, const vision_box &b) {
    float left = std::max(a.x, b.x), top = std::max(a.y, b.y);
    float right = std::min(a.x + a.width, b.x + b.width), bottom = std::min(a.y + a.height, b.y + b.height);
    float shared = std::max(0.0f, right - left) * std::max(0.0f, bottom - top);
    float total = a.width * a.height + b.width * b.height - shared;
    return total > 0 ? shared / total : 0;
}

const char *kindOf(const std::string &label) {
    static const char *const vehicles[] = {"bicycle", "car", "motorbike", "motorcycle", "bus", "train", "truck", "boat", "aeroplane", "airplane"};
    static const char *const animals[] = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"};
    if (label == "person") return "person";
    for (const char *v : vehicles) if (label == v) return "vehicle";
    for (const char *a : animals) if (label == a) return "animal";
    return nullptr;
}

struct Instance {
    const describer_host *host;
    YoloModel model;
    float minConfidence = 0.3f;
    float nmsThreshold = 0.45f;
    int motionThreshold = 25;      /* grey levels a cell must change by */
    double stationaryOverlap = 0.6;
};

void analyse(Instance &instance, describer_call *call, size_t index, const describer_request &request) {
    const describer_host *host = instance.host;
    /* The options are JSON; `camera` is JSON text inside one of its strings. */
    Json options, camera;
    std::string raw = request.options_json == nullptr ? "{}" : std::string(request.options_json, request.options_size);
    if (!parseJson(raw, options) || options.kind != Json::object) {
        fail(host, call, index, DESCRIBER_STATUS_INVALID_INPUT, "the request options are not a JSON object");
        return;
    }
    const Json *cameraOption = options["camera"], *stateOption = options["state"];
    std::string cameraText = cameraOption != nullptr && cameraOption->kind == Json::string ? cameraOption->text : "";
    std::string stateText = stateOption != nullptr && stateOption->kind == Json::string ? stateOption->text : "";
    std::vector<Zone> zones;
    if (!cameraText.empty()) {
        if (!parseJson(cameraText, camera) || camera.kind != Json::object) {
            fail(host, call, index, DESCRIBER_STATUS_INVALID_INPUT, "the camera option is not a JSON object");
            return;
        }
        if (const Json *list = camera["zones"]; list != nullptr && list->kind == Json::array) {
            for (const Json &item : list->items) {
                const Json *name = item["name"], *polygon = item["polygon"];
                if (name == nullptr || polygon == nullptr || polygon->kind != Json::array || polygon->items.size() < 3) continue;
                Zone zone{name->text, {}};
                for (const Json &point : polygon->items) {
                    if (point.kind == Json::array && point.items.size() == 2) zone.polygon.emplace_back(point.items[0].value, point.items[1].value);
                }
                if (zone.polygon.size() >= 3) zones.push_back(std::move(zone));
            }
        }
    }
    CameraState state = decodeState(stateText);

    vision_image image{request.data, request.width, request.height, request.stride};
    char error[256];
    /* Motion: the thumbnail against the background. */
    std::vector<uint8_t> thumbnail(thumbnailSize);
    if (vision_grey_thumbnail(&image, thumbnailWidth, thumbnailHeight, thumbnail.data(), error, sizeof error) != 0) {
        fail(host, call, index, DESCRIBER_STATUS_FAILED, std::string("analysis failed: ") + error);
        return;
    }
    std::string events;
    char numbers[256];
    if (state.background.size() == thumbnailSize) {
        int minX = thumbnailWidth, minY = thumbnailHeight, maxX = -1, maxY = -1, changed = 0;
        for (int y = 0; y < thumbnailHeight; y++) {
            for (int x = 0; x < thumbnailWidth; x++) {
                int difference = std::abs(int(thumbnail[y * thumbnailWidth + x]) - int(state.background[y * thumbnailWidth + x]));
                if (difference < instance.motionThreshold) continue;
                changed++;
                minX = std::min(minX, x), maxX = std::max(maxX, x), minY = std::min(minY, y), maxY = std::max(maxY, y);
            }
        }
        /* A handful of cells is noise (sensor, compression), not motion. */
        if (changed >= 4) {
            std::snprintf(numbers, sizeof numbers,
                          "{\"kind\":\"motion\",\"score\":%.3f,\"box\":{\"x\":%.4f,\"y\":%.4f,\"width\":%.4f,\"height\":%.4f}}",
                          std::min(1.0, changed * 10.0 / thumbnailSize), double(minX) / thumbnailWidth, double(minY) / thumbnailHeight,
                          double(maxX - minX + 1) / thumbnailWidth, double(maxY - minY + 1) / thumbnailHeight);
            events += numbers;
        }
        /* The background follows slow changes (light, shadows). */
        for (size_t i = 0; i < thumbnailSize; i++) {
            state.background[i] = static_cast<uint8_t>((state.background[i] * 7 + thumbnail[i]) / 8);
        }
    } else {
        state.background = thumbnail;
    }

    /* Objects. */
    std::vector<vision_box> boxes;
    std::string failure;
    if (!instance.model.detect(image, instance.minConfidence, instance.nmsThreshold, boxes, failure)) {
        fail(host, call, index, DESCRIBER_STATUS_FAILED, "detection failed: " + failure);
        return;
    }
    if (host->expired(call, index)) {
        fail(host, call, index, DESCRIBER_STATUS_DEADLINE, "the deadline passed during detection");
        return;
    }

    std::vector<Seen> frame;
    for (const vision_box &box : boxes) {
        const std::string &label = instance.model.labels[box.class_id];
        const char *kind = kindOf(label);
        if (kind == nullptr || frame.size() >= maxObjectsPerFrame) continue;
        bool stationary = false;
        for (const auto &earlier : state.history) {
            for (const Seen &seen : earlier) {
                if (seen.label == box.class_id && overlap(seen, box) >= instance.stationaryOverlap) stationary = true;
            }
        }
        frame.push_back({static_cast<uint16_t>(box.class_id), box.x, box.y, box.width, box.height});
        std::string zoneList;
        double footX = box.x + box.width / 2, footY = box.y + box.height;
        for (const Zone &zone : zones) {
            if (inside(zone, footX, footY)) zoneList += (zoneList.empty() ? "\"" : ",\"") + jsonEscape(zone.name) + "\"";
        }
        std::snprintf(numbers, sizeof numbers,
                      "\"score\":%.3f,\"box\":{\"x\":%.4f,\"y\":%.4f,\"width\":%.4f,\"height\":%.4f},", box.score, box.x, box.y,
                      box.width, box.height);
        events += (events.empty() ? "" : ",") + std::string("{\"kind\":\"") + kind + "\",\"label\":\"" + jsonEscape(label) + "\"," +
                  numbers + "\"zones\":[" + zoneList + "],\"stationary\":" + (stationary ? "true" : "false") + "}";
    }
    state.history.push_back(std::move(frame));
    if (state.history.size() > historyFrames) state.history.erase(state.history.begin());

    std::string json = "{\"events\":[" + events + "],\"state\":\"" + base64Encode(encodeState(state)) + "\"}";
    host->respond(call, index, "application/json", reinterpret_cast<const uint8_t *>(json.data()), json.size());
}

} // namespace

extern "C" {

DESCRIBER_EXPORT const describer_function_info *describer_function_get_info(void) { return &info; }

DESCRIBER_EXPORT int describer_instance_create(const describer_host *host, describer_call *call, const char *options,
                                               size_t optionsSize, void **outInstance) {
    try {
        auto instance = std::make_unique<Instance>();
        instance->host = host;
        instance->minConfidence = static_cast<float>(jsonNumber(options, optionsSize, "min_confidence", 0.3));
        instance->nmsThreshold = static_cast<float>(jsonNumber(options, optionsSize, "nms_threshold", 0.45));
        instance->motionThreshold = static_cast<int>(jsonNumber(options, optionsSize, "motion_threshold", 25));
        instance->stationaryOverlap = jsonNumber(options, optionsSize, "stationary_overlap", 0.6);
        std::string error;
        if (describer_status status = instance->model.start(options, optionsSize, "../detect/model", error); status != DESCRIBER_STATUS_OK) {
            fail(host, call, 0, status, error);
            return 1;
        }
        *outInstance = instance.release();
        return 0;
    } catch (const std::exception &error) {
        fail(host, call, 0, DESCRIBER_STATUS_FAILED, std::string("security-events could not start: ") + error.what());
        return 1;
    }
}

DESCRIBER_EXPORT int describer_instance_process(void *opaque, describer_call *call, const describer_request *requests,
                                                size_t count) {
    auto &instance = *static_cast<Instance *>(opaque);
    return processEach(instance.host, call, requests, count, "analysis failed: ",
                       [&](size_t i, const describer_request &request) { analyse(instance, call, i, request); });
}

DESCRIBER_EXPORT void describer_instance_destroy(void *opaque) { delete static_cast<Instance *>(opaque); }

} // extern "C"
