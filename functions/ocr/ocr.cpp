/*
 * ocr — reads the text in a photo or a scan, in reading order.
 *
 * PP-OCRv6 small (from PaddleOCR, as packaged by rapidocr) on the OpenVINO C
 * runtime: a DB text detector finds the lines as rotated rectangles, each is
 * cut out upright with a perspective warp and read by a CTC recogniser whose
 * alphabet is stored in the model itself. A page photographed askew is
 * turned upright before its lines are found, and the lines are read side by
 * side, one per core. fetch-model installs the models in model/; the
 * runtime comes from functions/openvino (see MODELS.md).
 *
 * OpenVINO is opened with dlopen when an instance is created, not linked: on
 * a machine without the runtime, creating an instance fails with a message
 * naming "make -C functions/openvino" while the rest of the service keeps
 * serving.
 *
 * Input: RGB8 pixels, scaled by the host to fit 2048x2048.
 * Output: application/json
 *   {"text": "line\nline\n\nnext block",   confident lines, in reading order
 *    "text_coverage": 0.31,                 fraction of the image those lines cover
 *    "lines": [{"text": "…", "confidence": 0.97, "low_confidence": false,
 *               "box": [[x,y],[x,y],[x,y],[x,y]]}, …],
 *    "blocks": [{"text": "…", "lines": [0, 1], "box": [[x,y]×4]}, …],
 *    "low_confidence_lines": 1}
 * Boxes are in the input image's pixels, clockwise from the line's top left
 * (they are rotated rectangles on a rotated page). A line read with less
 * than min_confidence is kept in "lines", marked low_confidence, and left out
 * of "text" and the blocks: a describer should not speak a guess as if it
 * were written there, and "low_confidence_lines" lets it say that some text
 * could not be read. When nothing is read, "text" is "".
 * Request option: min_confidence (0..1, default from options).
 */
#include "describer_function.h"
#include "function_support.hpp"
#include "openvino_runtime.hpp"
#include "vision.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sched.h>

namespace {

using namespace describer_support;

const describer_function_info info = [] {
    describer_function_info i{};
    i.struct_size = sizeof(describer_function_info);
    i.abi_major = DESCRIBER_ABI_VERSION_MAJOR;
    i.abi_minor = DESCRIBER_ABI_VERSION_MINOR;
    i.name = "ocr";
    i.version = "1.0.0";
    /* One OpenVINO inference request per model per instance, so no
     * REENTRANT; OpenVINO already spreads one inference over the cores. */
    i.capabilities = 0;
    i.input_kind = DESCRIBER_INPUT_RGB8;
    /* Large enough to keep small print legible on a photographed page. */
    i.max_width = 2048;
    i.max_height = 2048;
    return i;
}();

/* Appended to every "not installed" or "damaged" failure. */
const char *const setupHint = "make -C functions/ocr (which scripts/setup runs) installs it";

/* ---------------------------------------------------------------------------
 * The instance
 * ------------------------------------------------------------------------- */

struct Instance {
    const describer_host *host = nullptr;
    const OpenVINO *ov = nullptr;
    ov_core_t *core = nullptr;
    /* Destroyed before the core (members are destroyed in reverse order). */
    std::unique_ptr<OpenVINONetwork> detector, recogniser;
    /* The recogniser's classes: the CTC blank at 0, the model's symbols,
     * then the space. */
    std::vector<std::string> alphabet;
    float minConfidence = 0.7f;
    float binaryThreshold = 0.3f; /* probability above which a pixel is text */
    float boxThreshold = 0.5f;    /* mean probability below which a region is noise */
    float unclipRatio = 1.6f;     /* how far a region grows back to the glyphs' full extent */
    int detectMinSide = 64;       /* the detector's input: short side scaled up to this… */
    int detectMaxSide = 1600;     /* …as long as the long side stays within this */
    float deskewAngle = 0.035f;   /* radians (2 degrees): a page turned by more is read again upright */
    size_t maxLines = 400;

    ~Instance() {
        detector.reset();
        recogniser.reset();
        if (core != nullptr) ov->ov_core_free(core);
    }
};

/* The cores this process may run on. */
int cores() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1u, std::thread::hardware_concurrency());
}

std::vector<std::string> readAlphabet(const std::string &path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error("the recogniser's dictionary " + path + " is not installed; " + setupHint);
    std::vector<std::string> alphabet{""};
    for (std::string symbol; std::getline(file, symbol);) alphabet.push_back(symbol);
    alphabet.push_back(" ");
    return alphabet;
}

/* ---------------------------------------------------------------------------
 * Geometry of lines
 * ------------------------------------------------------------------------- */

float distance(float x0, float y0, float x1, float y1) { return std::hypot(x1 - x0, y1 - y0); }

float quadWidth(const vision_quad &q) {
    return std::max(distance(q.x[0], q.y[0], q.x[1], q.y[1]), distance(q.x[3], q.y[3], q.x[2], q.y[2]));
}

float quadHeight(const vision_quad &q) {
    return std::max(distance(q.x[0], q.y[0], q.x[3], q.y[3]), distance(q.x[1], q.y[1], q.x[2], q.y[2]));
}

float quadArea(const vision_quad &q) {
    float twice = 0;
    for (int i = 0; i < 4; i++) twice += q.x[i] * q.y[(i + 1) % 4] - q.x[(i + 1) % 4] * q.y[i];
    return std::fabs(twice) / 2;
}

/* DB shrinks each text region while training; growing the detected
 * rectangle by area * ratio / perimeter on every side restores the glyphs'
 * full extent. For a rectangle that offset is exact: each side moves out by
 * the same distance. */
vision_quad unclipped(const vision_quad &q, float ratio) {
    float width = distance(q.x[0], q.y[0], q.x[1], q.y[1]), height = distance(q.x[0], q.y[0], q.x[3], q.y[3]);
    float grow = width * height * ratio / std::max(1e-3f, 2 * (width + height));
    float ux = (q.x[1] - q.x[0]) / std::max(1e-3f, width), uy = (q.y[1] - q.y[0]) / std::max(1e-3f, width);
    float vx = (q.x[3] - q.x[0]) / std::max(1e-3f, height), vy = (q.y[3] - q.y[0]) / std::max(1e-3f, height);
    float cx = (q.x[0] + q.x[1] + q.x[2] + q.x[3]) / 4, cy = (q.y[0] + q.y[1] + q.y[2] + q.y[3]) / 4;
    float halfU = width / 2 + grow, halfV = height / 2 + grow;
    float x[4], y[4];
    const int signs[4][2] = {{-1, -1}, {1, -1}, {1, 1}, {-1, 1}};
    for (int i = 0; i < 4; i++) {
        x[i] = cx + signs[i][0] * halfU * ux + signs[i][1] * halfV * vx;
        y[i] = cy + signs[i][0] * halfU * uy + signs[i][1] * halfV * vy;
    }
    vision_quad result = q;
    vision_min_area_rect(x, y, 4, &result);
    return result;
}

struct Line {
    vision_quad box;      /* in the input image's pixels */
    std::string text;
    float confidence = 0;
    bool lowConfidence = true;
    /* Position in the page's own frame (rotated back by the page's angle). */
    float left = 0, right = 0, top = 0, bottom = 0;
};

/* ---------------------------------------------------------------------------
 * Detection
 * ------------------------------------------------------------------------- */

std::vector<vision_quad> detectLines(Instance &instance, const vision_image &image) {
    /* The image as it is, unless a side is tiny or the long side too long
     * (see detect_min_side in function.yaml); the network wants sides that
     * are multiples of 32. */
    float shortSide = static_cast<float>(std::min(image.width, image.height));
    float longSide = static_cast<float>(std::max(image.width, image.height));
    float ratio = std::max(1.0f, instance.detectMinSide / shortSide);
    ratio = std::min(ratio, instance.detectMaxSide / longSide);
    int width = std::max(32, static_cast<int>(std::lround(image.width * ratio / 32)) * 32);
    int height = std::max(32, static_cast<int>(std::lround(image.height * ratio / 32)) * 32);

    static const float half[3] = {0.5f, 0.5f, 0.5f};
    std::vector<float> blob(3 * static_cast<size_t>(width) * height);
    char error[256];
    vision_geometry geometry{};
    /* PaddleOCR's models were trained on OpenCV-loaded (BGR) images. */
    if (vision_blob(&image, width, height, VISION_FIT_STRETCH, 0, 1.0f / 255.0f, half, half, 1, blob.data(), &geometry,
                    error, sizeof error) != 0) {
        throw std::runtime_error(error);
    }
    std::vector<int64_t> shape;
    const float *map = instance.detector->run(blob.data(), {1, 3, height, width}, shape);
    if (shape.size() != 4 || shape[2] != height || shape[3] != width) throw std::runtime_error("unexpected detector output");

    std::vector<vision_region> regions(1000);
    long found = vision_regions(map, width, height, instance.binaryThreshold, regions.data(), regions.size(), error, sizeof error);
    if (found < 0) throw std::runtime_error(error);
    regions.resize(std::min(static_cast<size_t>(found), regions.size()));

    std::vector<vision_quad> lines;
    for (const vision_region &region : regions) {
        if (region.short_side < 3 || region.score < instance.boxThreshold) continue;
        vision_quad box = unclipped(region.box, instance.unclipRatio);
        if (std::min(quadWidth(box), quadHeight(box)) < 5) continue;
        for (int i = 0; i < 4; i++) {
            box.x[i] = std::clamp(box.x[i] / geometry.scale_x, 0.0f, static_cast<float>(image.width - 1));
            box.y[i] = std::clamp(box.y[i] / geometry.scale_y, 0.0f, static_cast<float>(image.height - 1));
        }
        if (quadWidth(box) <= 3 || quadHeight(box) <= 3) continue;
        lines.push_back(box);
        if (lines.size() == instance.maxLines) break;
    }
    return lines;
}

/* The angle (radians, clockwise as seen) by which the page's lines are
 * turned, when enough long lines agree on one; 0 otherwise. */
float skewOf(const std::vector<vision_quad> &lines) {
    std::vector<float> angles;
    for (const vision_quad &q : lines) {
        if (quadWidth(q) < 3 * quadHeight(q)) continue; /* too short to tell */
        angles.push_back(std::atan2(q.y[1] - q.y[0], q.x[1] - q.x[0]));
    }
    if (angles.size() < 3) return 0;
    std::sort(angles.begin(), angles.end());
    float median = angles[angles.size() / 2];
    size_t agreeing = std::count_if(angles.begin(), angles.end(), [&](float a) { return std::fabs(a - median) < 0.09f; });
    return 3 * agreeing >= 2 * angles.size() ? median : 0.0f;
}

std::vector<vision_quad> findLines(Instance &instance, const vision_image &image) {
    std::vector<vision_quad> lines = detectLines(instance, image);
    float skew = skewOf(lines);
    if (std::fabs(skew) < instance.deskewAngle) return lines;
    /* The detector finds the lines of a page turned by more than a few
     * degrees in pieces, and loses words between them, on a page whose lines
     * are set close: it reads the page again turned upright, and the lines
     * found there are turned back onto the image. */
    cv::Mat source(image.height, image.width, CV_8UC3, const_cast<uint8_t *>(image.data), image.stride);
    float c = std::fabs(std::cos(skew)), s = std::fabs(std::sin(skew));
    int width = static_cast<int>(std::ceil(image.width * c + image.height * s));
    int height = static_cast<int>(std::ceil(image.width * s + image.height * c));
    cv::Mat turn = cv::getRotationMatrix2D(cv::Point2f(image.width / 2.0f, image.height / 2.0f), skew * 180 / CV_PI, 1.0);
    turn.at<double>(0, 2) += width / 2.0 - image.width / 2.0;
    turn.at<double>(1, 2) += height / 2.0 - image.height / 2.0;
    /* The corners uncovered are filled with the colour of the image's edge. */
    cv::Scalar edge = (cv::mean(source.row(0)) + cv::mean(source.row(source.rows - 1)) + cv::mean(source.col(0)) +
                       cv::mean(source.col(source.cols - 1))) / 4;
    cv::Mat upright;
    cv::warpAffine(source, upright, turn, cv::Size(width, height), cv::INTER_LINEAR, cv::BORDER_CONSTANT, edge);
    const vision_image turned{upright.data, static_cast<uint32_t>(width), static_cast<uint32_t>(height),
                              static_cast<uint32_t>(upright.step)};
    cv::Mat back;
    cv::invertAffineTransform(turn, back);
    lines = detectLines(instance, turned);
    for (vision_quad &box : lines) {
        for (int i = 0; i < 4; i++) {
            double x = box.x[i], y = box.y[i];
            box.x[i] = std::clamp(static_cast<float>(back.at<double>(0, 0) * x + back.at<double>(0, 1) * y + back.at<double>(0, 2)),
                                  0.0f, static_cast<float>(image.width - 1));
            box.y[i] = std::clamp(static_cast<float>(back.at<double>(1, 0) * x + back.at<double>(1, 1) * y + back.at<double>(1, 2)),
                                  0.0f, static_cast<float>(image.height - 1));
        }
    }
    return lines;
}

/* ---------------------------------------------------------------------------
 * Recognition
 * ------------------------------------------------------------------------- */

constexpr int recogniserHeight = 48;
constexpr int recogniserMaxWidth = 2048;

/* The crop of a line, upright, 48 px high and as wide as its proportions
 * say. A line much taller than wide is vertical text: turned a quarter to
 * read along it. */
std::vector<uint8_t> lineImage(const vision_image &image, const vision_quad &box, int &width) {
    vision_quad source = box;
    float w = quadWidth(box), h = quadHeight(box);
    if (h >= 1.5f * w) {
        for (int i = 0; i < 4; i++) {
            source.x[i] = box.x[(i + 1) % 4];
            source.y[i] = box.y[(i + 1) % 4];
        }
        std::swap(w, h);
    }
    width = std::clamp(static_cast<int>(std::ceil(recogniserHeight * w / std::max(1.0f, h))), 8, recogniserMaxWidth);
    std::vector<uint8_t> pixels(static_cast<size_t>(width) * recogniserHeight * 3);
    char error[256];
    if (vision_crop(&image, &source, width, recogniserHeight, pixels.data(), error, sizeof error) != 0) {
        throw std::runtime_error(error);
    }
    return pixels;
}

/* Greedy CTC decoding: the best class at each step, repeats merged, blanks
 * dropped; the confidence is the mean probability of the kept steps. */
void decode(const Instance &instance, const float *scores, int64_t steps, int64_t classes, Line &line) {
    std::string text;
    double sum = 0;
    int kept = 0;
    int64_t previous = 0;
    for (int64_t t = 0; t < steps; t++) {
        const float *row = scores + t * classes;
        int64_t best = std::max_element(row, row + classes) - row;
        if (best != 0 && best != previous && best < static_cast<int64_t>(instance.alphabet.size())) {
            text += instance.alphabet[best];
            sum += row[best];
            kept++;
        }
        previous = best;
    }
    /* Spaces at either end come from the crop's margins, not from the page. */
    size_t first = text.find_first_not_of(' ');
    line.text = first == std::string::npos ? "" : text.substr(first, text.find_last_not_of(' ') + 1 - first);
    line.confidence = kept ? static_cast<float>(sum / kept) : 0.0f;
}

/* Every line is read on its own, at its own width: the recogniser's cost
 * grows with the width it is given, and batches of lines (padded to the
 * widest of them) saved no CPU time per line while the padding added up to
 * a fifth. Lines run side by side on the recogniser's streams, longest
 * first, so that the streams finish at about the same time. */
bool readLines(Instance &instance, const vision_image &image, std::vector<Line> &lines, describer_call *call, size_t index) {
    struct Crop {
        size_t line;
        int width;
        std::vector<uint8_t> pixels;
    };
    std::vector<Crop> crops;
    for (size_t i = 0; i < lines.size(); i++) {
        Crop crop{i, 0, {}};
        crop.pixels = lineImage(image, lines[i].box, crop.width);
        crops.push_back(std::move(crop));
    }
    std::stable_sort(crops.begin(), crops.end(), [](const Crop &a, const Crop &b) { return a.width > b.width; });

    OpenVINONetwork &recogniser = *instance.recogniser;
    const size_t slots = recogniser.slots();
    /* What each slot is reading: its input (borrowed by the running
     * inference) and the line it is for. */
    struct Slot {
        std::vector<float> blob;
        const Crop *crop = nullptr;
    };
    std::vector<Slot> running(slots);
    /* A slot still running when this returns or throws must finish before
     * its input is freed. */
    struct Drain {
        OpenVINONetwork &network;
        std::vector<Slot> &running;
        ~Drain() {
            for (size_t slot = 0; slot < running.size(); slot++) {
                if (running[slot].crop == nullptr) continue;
                try {
                    network.wait(slot);
                } catch (...) {
                }
            }
        }
    } drain{recogniser, running};

    static const float half[3] = {0.5f, 0.5f, 0.5f};
    char error[256];
    for (size_t k = 0; k < crops.size() + slots; k++) {
        Slot &slot = running[k % slots];
        if (slot.crop != nullptr) {
            recogniser.wait(k % slots);
            std::vector<int64_t> shape;
            const float *scores = recogniser.output(0, shape, k % slots);
            if (shape.size() != 3 || shape[0] != 1) throw std::runtime_error("unexpected recogniser output");
            decode(instance, scores, shape[1], shape[2], lines[slot.crop->line]);
            slot.crop = nullptr;
        }
        if (k >= crops.size()) continue;
        if (instance.host->expired(call, index)) return false;
        const Crop &crop = crops[k];
        const vision_image cut{crop.pixels.data(), static_cast<uint32_t>(crop.width), recogniserHeight,
                               static_cast<uint32_t>(crop.width * 3)};
        slot.blob.resize(3 * static_cast<size_t>(crop.width) * recogniserHeight);
        if (vision_blob(&cut, crop.width, recogniserHeight, VISION_FIT_STRETCH, 0, 1.0f / 255.0f, half, half, 1,
                        slot.blob.data(), nullptr, error, sizeof error) != 0) {
            throw std::runtime_error(error);
        }
        recogniser.start(k % slots, slot.blob.data(), {1, 3, recogniserHeight, crop.width});
        slot.crop = &crop;
    }
    return true;
}

/* ---------------------------------------------------------------------------
 * Reading order
 * ------------------------------------------------------------------------- */

struct Block {
    std::vector<size_t> lines; /* in reading order */
    float left, right, top, bottom;
    std::string text;
};

/* Places every line in the page's own frame: a page photographed at an
 * angle is turned back by the median angle of its lines, so "above" and
 * "left of" mean what they mean on the paper. */
void placeOnPage(std::vector<Line> &lines) {
    if (lines.empty()) return;
    std::vector<float> angles;
    for (const Line &line : lines) angles.push_back(std::atan2(line.box.y[1] - line.box.y[0], line.box.x[1] - line.box.x[0]));
    std::nth_element(angles.begin(), angles.begin() + angles.size() / 2, angles.end());
    float angle = angles[angles.size() / 2], c = std::cos(-angle), s = std::sin(-angle);
    for (Line &line : lines) {
        line.left = line.top = INFINITY;
        line.right = line.bottom = -INFINITY;
        for (int i = 0; i < 4; i++) {
            float x = c * line.box.x[i] - s * line.box.y[i], y = s * line.box.x[i] + c * line.box.y[i];
            line.left = std::min(line.left, x);
            line.right = std::max(line.right, x);
            line.top = std::min(line.top, y);
            line.bottom = std::max(line.bottom, y);
        }
    }
}

/* Groups the lines that made it into the text into blocks: a line joins the
 * block it overlaps horizontally if the gap above it is less than about a
 * line's height; otherwise it starts a new block (a paragraph, a column, a
 * caption). Blocks read top to bottom; blocks side by side read left to right. */
std::vector<Block> blocksOf(const std::vector<Line> &lines) {
    std::vector<size_t> order;
    for (size_t i = 0; i < lines.size(); i++) {
        if (!lines[i].lowConfidence) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lines[a].top < lines[b].top; });
    std::vector<Block> blocks;
    for (size_t i : order) {
        const Line &line = lines[i];
        float height = line.bottom - line.top;
        Block *home = nullptr;
        for (Block &block : blocks) {
            bool overlaps = line.left < block.right && line.right > block.left;
            bool close = line.top - block.bottom < 0.8f * height;
            if (overlaps && close && (home == nullptr || block.bottom > home->bottom)) home = &block;
        }
        if (home == nullptr) {
            blocks.push_back({{}, line.left, line.right, line.top, line.bottom, ""});
            home = &blocks.back();
        }
        home->lines.push_back(i);
        home->left = std::min(home->left, line.left);
        home->right = std::max(home->right, line.right);
        home->bottom = std::max(home->bottom, line.bottom);
    }
    for (Block &block : blocks) {
        /* Rows: lines whose middles fall within a row's height share it and
         * read left to right, joined by a space. */
        std::vector<std::vector<size_t>> rows;
        for (size_t i : block.lines) {
            const Line &line = lines[i];
            float middle = (line.top + line.bottom) / 2;
            if (!rows.empty()) {
                const Line &first = lines[rows.back().front()];
                if (middle > first.top && middle < first.bottom) {
                    rows.back().push_back(i);
                    continue;
                }
            }
            rows.push_back({i});
        }
        block.lines.clear();
        for (auto &row : rows) {
            std::sort(row.begin(), row.end(), [&](size_t a, size_t b) { return lines[a].left < lines[b].left; });
            if (!block.text.empty()) block.text += '\n';
            for (size_t k = 0; k < row.size(); k++) {
                block.text += (k ? " " : "") + lines[row[k]].text;
                block.lines.push_back(row[k]);
            }
        }
    }
    /* Top to bottom; a block that starts beside another (within its height)
     * and left of it comes after it only if it is to the right. */
    std::stable_sort(blocks.begin(), blocks.end(), [](const Block &a, const Block &b) { return a.top < b.top; });
    for (size_t i = 1; i < blocks.size(); i++) {
        for (size_t j = i; j > 0; j--) {
            Block &before = blocks[j - 1], &after = blocks[j];
            bool beside = after.top < before.bottom && before.top < after.bottom;
            if (!beside || after.left >= before.left) break;
            std::swap(before, after);
        }
    }
    return blocks;
}

/* ---------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------- */

void appendEscaped(std::string &out, const std::string &text) { out += '"' + jsonEscape(text) + '"'; }

void appendBox(std::string &out, const vision_quad &box) {
    char corner[64];
    out += '[';
    for (int i = 0; i < 4; i++) {
        std::snprintf(corner, sizeof corner, "%s[%.1f,%.1f]", i ? "," : "", box.x[i], box.y[i]);
        out += corner;
    }
    out += ']';
}

std::string answer(const std::vector<Line> &lines, const std::vector<Block> &blocks, const vision_image &image) {
    std::string text;
    for (const Block &block : blocks) text += (text.empty() ? "" : "\n\n") + block.text;
    /* Coverage counts the lines that were read, so that texture mistaken for
     * text does not make a photo look like a page. */
    double covered = 0;
    size_t lowConfidence = 0;
    for (const Line &line : lines) {
        if (line.lowConfidence) lowConfidence++;
        else covered += quadArea(line.box);
    }
    double coverage = std::min(1.0, covered / (static_cast<double>(image.width) * image.height));

    std::string json = "{\"text\":";
    appendEscaped(json, text);
    char number[96];
    std::snprintf(number, sizeof number, ",\"text_coverage\":%.4f,\"low_confidence_lines\":%zu,\"lines\":[", coverage,
                  lowConfidence);
    json += number;
    for (size_t i = 0; i < lines.size(); i++) {
        json += i ? ",{\"text\":" : "{\"text\":";
        appendEscaped(json, lines[i].text);
        std::snprintf(number, sizeof number, ",\"confidence\":%.3f,\"low_confidence\":%s,\"box\":", lines[i].confidence,
                      lines[i].lowConfidence ? "true" : "false");
        json += number;
        appendBox(json, lines[i].box);
        json += '}';
    }
    json += "],\"blocks\":[";
    for (size_t b = 0; b < blocks.size(); b++) {
        json += b ? ",{\"text\":" : "{\"text\":";
        appendEscaped(json, blocks[b].text);
        json += ",\"lines\":[";
        std::vector<float> xs, ys;
        for (size_t k = 0; k < blocks[b].lines.size(); k++) {
            json += (k ? "," : "") + std::to_string(blocks[b].lines[k]);
            const vision_quad &box = lines[blocks[b].lines[k]].box;
            xs.insert(xs.end(), box.x, box.x + 4);
            ys.insert(ys.end(), box.y, box.y + 4);
        }
        json += "],\"box\":";
        vision_quad around{};
        vision_min_area_rect(xs.data(), ys.data(), xs.size(), &around);
        appendBox(json, around);
        json += '}';
    }
    return json + "]}";
}

void readOne(Instance &instance, describer_call *call, size_t index, const describer_request &request) {
    const describer_host *host = instance.host;
    if (request.width == 0 || request.height == 0 || request.data == nullptr) {
        fail(host, call, index, DESCRIBER_STATUS_INVALID_INPUT, "ocr needs decoded RGB8 pixels");
        return;
    }
    float minConfidence = static_cast<float>(
        jsonNumber(request.options_json, request.options_size, "min_confidence", instance.minConfidence));
    const vision_image image{request.data, request.width, request.height, request.stride};
    std::vector<Line> lines;
    for (const vision_quad &box : findLines(instance, image)) {
        Line line;
        line.box = box;
        lines.push_back(line);
    }
    if (host->expired(call, index) || !readLines(instance, image, lines, call, index)) {
        fail(host, call, index, DESCRIBER_STATUS_DEADLINE, "the deadline passed while reading");
        return;
    }
    for (Line &line : lines) line.lowConfidence = line.text.empty() || line.confidence < minConfidence;
    placeOnPage(lines);
    /* Lines listed in reading order too, blocks first. */
    std::vector<Block> blocks = blocksOf(lines);
    std::vector<size_t> order;
    for (const Block &block : blocks) order.insert(order.end(), block.lines.begin(), block.lines.end());
    std::vector<size_t> rest;
    for (size_t i = 0; i < lines.size(); i++) {
        if (lines[i].lowConfidence) rest.push_back(i);
    }
    std::sort(rest.begin(), rest.end(), [&](size_t a, size_t b) { return lines[a].top < lines[b].top; });
    order.insert(order.end(), rest.begin(), rest.end());
    std::vector<Line> ordered;
    std::vector<size_t> position(lines.size());
    for (size_t k = 0; k < order.size(); k++) {
        position[order[k]] = k;
        ordered.push_back(lines[order[k]]);
    }
    for (Block &block : blocks) {
        for (size_t &i : block.lines) i = position[i];
    }
    std::string json = answer(ordered, blocks, image);
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
        std::string error;
        instance->ov = openVINO(folderOption(options, optionsSize, "runtime_directory", "../openvino/runtime") + "/lib", error);
        if (instance->ov == nullptr) {
            fail(host, call, 0, DESCRIBER_STATUS_FAILED, error);
            return 1;
        }
        const OpenVINO &ov = *instance->ov;
        std::string models = folderOption(options, optionsSize, "model_directory", "model");
        instance->alphabet = readAlphabet(models + "/PP-OCRv6_rec_small.dict");
        instance->minConfidence = static_cast<float>(jsonNumber(options, optionsSize, "min_confidence", 0.7));
        instance->binaryThreshold = static_cast<float>(jsonNumber(options, optionsSize, "binary_threshold", 0.3));
        instance->boxThreshold = static_cast<float>(jsonNumber(options, optionsSize, "box_threshold", 0.5));
        instance->unclipRatio = static_cast<float>(jsonNumber(options, optionsSize, "unclip_ratio", 1.6));
        instance->detectMinSide = static_cast<int>(jsonNumber(options, optionsSize, "detect_min_side", 64));
        instance->detectMaxSide = static_cast<int>(jsonNumber(options, optionsSize, "detect_max_side", 1600));
        instance->maxLines = static_cast<size_t>(jsonNumber(options, optionsSize, "max_lines", 400));
        if (instance->detectMinSide < 32 || instance->detectMaxSide < instance->detectMinSide || instance->maxLines == 0) {
            fail(host, call, 0, DESCRIBER_STATUS_INVALID_INPUT,
                 "options: need 32 <= detect_min_side <= detect_max_side and max_lines >= 1");
            return 1;
        }
        int threads = std::max(0, static_cast<int>(jsonNumber(options, optionsSize, "threads", 0)));
        ov.check(ov.ov_core_create(&instance->core), "OpenVINO could not start");
        for (const char *name : {"PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx"}) {
            if (!std::ifstream(models + "/" + name)) {
                throw std::runtime_error("the model " + models + "/" + name + " is not installed; " + setupHint);
            }
        }
        instance->detector = std::make_unique<OpenVINONetwork>();
        instance->detector->load(ov, instance->core, models + "/PP-OCRv6_det_small.onnx", threads, setupHint);
        instance->recogniser = std::make_unique<OpenVINONetwork>();
        /* Lines are independent: one stream per inference thread reads as many
         * lines at once, which keeps every core busy better than sharing one
         * short line out among them. */
        int streams = std::clamp(threads > 0 ? threads : cores(), 1, 4);
        instance->recogniser->load(ov, instance->core, models + "/PP-OCRv6_rec_small.onnx", threads, setupHint, streams);

        /* One pass of each network now: the first request then does not pay
         * for OpenVINO's lazy initialisation, and a dictionary that does not
         * match the recogniser is caught here rather than misreading. */
        std::vector<float> blank(3 * 64 * 64, 0.0f);
        std::vector<int64_t> shape;
        instance->detector->run(blank.data(), {1, 3, 64, 64}, shape);
        blank.assign(3 * recogniserHeight * 64, 0.0f);
        for (size_t slot = 0; slot < instance->recogniser->slots(); slot++) {
            instance->recogniser->start(slot, blank.data(), {1, 3, recogniserHeight, 64});
            instance->recogniser->wait(slot);
        }
        instance->recogniser->output(0, shape);
        if (shape.size() != 3 || shape[2] != static_cast<int64_t>(instance->alphabet.size())) {
            fail(host, call, 0, DESCRIBER_STATUS_FAILED,
                 "the recogniser's dictionary (" + std::to_string(instance->alphabet.size()) +
                     " classes) does not match the model (" + (shape.size() == 3 ? std::to_string(shape[2]) : "?") +
                     "); " + setupHint + " again");
            return 1;
        }
        *outInstance = instance.release();
        return 0;
    } catch (const std::exception &error) {
        fail(host, call, 0, DESCRIBER_STATUS_FAILED, std::string("ocr could not start: ") + error.what());
        return 1;
    }
}

DESCRIBER_EXPORT int describer_instance_process(void *opaque, describer_call *call, const describer_request *requests,
                                                size_t count) {
    auto &instance = *static_cast<Instance *>(opaque);
    return processEach(instance.host, call, requests, count, "reading failed: ",
                       [&](size_t i, const describer_request &request) { readOne(instance, call, i, request); });
}

DESCRIBER_EXPORT void describer_instance_destroy(void *opaque) { delete static_cast<Instance *>(opaque); }

} // extern "C"
