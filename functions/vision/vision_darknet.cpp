/*
 * vision_darknet.cpp — Darknet .cfg/.weights to OpenVINO IR, in memory (see
 * vision_darknet.hpp). Supports what YOLOv3-tiny is made of:
 * [convolutional] (linear or leaky, with or without batch normalisation),
 * [maxpool], [route], [upsample] and [yolo]. Anything else, and any setting
 * of those layers that the converter does not implement (grouped routes,
 * dilations, scaled upsampling…), is refused by name rather than ignored:
 * a network built without it would load and give wrong answers.
 */
#include "vision_darknet.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace vision_detail {
namespace {

/* ---------------------------------------------------------------------------
 * The .cfg file: [sections] of key=value lines
 * ------------------------------------------------------------------------- */

struct Section {
    std::string type;
    std::map<std::string, std::string> values;
    int line = 0;

    std::string text(const std::string &key, const std::string &fallback) const {
        auto found = values.find(key);
        return found == values.end() ? fallback : found->second;
    }
    int integer(const std::string &key, int fallback) const {
        auto found = values.find(key);
        return found == values.end() ? fallback : parsed(key, found->second, [](const std::string &t) { return std::stoi(t); });
    }
    float number(const std::string &key, float fallback) const {
        auto found = values.find(key);
        return found == values.end() ? fallback : parsed(key, found->second, [](const std::string &t) { return std::stof(t); });
    }
    std::vector<int> integers(const std::string &key) const {
        std::vector<int> list;
        std::stringstream items(text(key, ""));
        for (std::string item; std::getline(items, item, ',');) {
            list.push_back(parsed(key, item, [](const std::string &t) { return std::stoi(t); }));
        }
        return list;
    }

private:
    /* `convert(value)`, or an error naming the section, its line and the key. */
    template <typename Convert>
    auto parsed(const std::string &key, const std::string &value, Convert convert) const -> decltype(convert(value)) {
        try {
            return convert(value);
        } catch (...) {
            throw std::runtime_error("[" + type + "] at line " + std::to_string(line) + ": " + key + " has '" + value +
                                     "', not a number");
        }
    }
};

std::string trimmed(const std::string &text) {
    size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

std::vector<Section> readCfg(const std::string &path) {
    std::ifstream file(path);
    if (!file) throw std::runtime_error(path + " cannot be read");
    std::vector<Section> sections;
    int number = 0;
    for (std::string line; std::getline(file, line);) {
        number++;
        line = trimmed(line.substr(0, line.find_first_of("#;")));
        if (line.empty()) continue;
        if (line.front() == '[') {
            if (line.back() != ']') throw std::runtime_error(path + ":" + std::to_string(number) + ": unclosed section name");
            sections.push_back({line.substr(1, line.size() - 2), {}, number});
        } else {
            size_t equals = line.find('=');
            if (equals == std::string::npos || sections.empty()) {
                throw std::runtime_error(path + ":" + std::to_string(number) + ": expected key=value inside a section");
            }
            sections.back().values[trimmed(line.substr(0, equals))] = trimmed(line.substr(equals + 1));
        }
    }
    if (sections.empty() || (sections[0].type != "net" && sections[0].type != "network")) {
        throw std::runtime_error(path + " does not start with a [net] section");
    }
    return sections;
}

/* ---------------------------------------------------------------------------
 * The .weights file: a header, then each convolution's parameters in order
 * ------------------------------------------------------------------------- */

class WeightsReader {
public:
    explicit WeightsReader(const std::string &path) : path_(path), file_(path, std::ios::binary) {
        if (!file_) throw std::runtime_error(path + " cannot be read");
        int32_t version[3];
        read(reinterpret_cast<char *>(version), sizeof version);
        /* Darknet wrote the count of images seen as a size_t from 0.2 on. */
        uint64_t seen = 0;
        read(reinterpret_cast<char *>(&seen), version[0] * 10 + version[1] >= 2 ? 8 : 4);
    }

    std::vector<float> floats(size_t count) {
        std::vector<float> values(count);
        read(reinterpret_cast<char *>(values.data()), count * sizeof(float));
        return values;
    }

    /* Every byte must have been used: a file for another cfg is refused. */
    void finish() {
        if (file_.peek() != std::char_traits<char>::eof()) {
            throw std::runtime_error(path_ + " is longer than the cfg's layers need: it belongs to another network or is damaged");
        }
    }

private:
    void read(char *into, size_t size) {
        if (!file_.read(into, static_cast<std::streamsize>(size))) {
            throw std::runtime_error(path_ + " is shorter than the cfg's layers need: it is truncated or belongs to another network");
        }
    }

    std::string path_;
    std::ifstream file_;
};

/* ---------------------------------------------------------------------------
 * The IR graph
 * ------------------------------------------------------------------------- */

class IRBuilder {
public:
    /* An output of a layer, with its shape (batch is -1: dynamic). */
    struct Port {
        int layer = -1;
        int port = 0;
        std::vector<int64_t> dims;
        const char *precision = "FP32";
    };

    Port parameter(const std::vector<int64_t> &dims) {
        return add("Parameter", "opset1", "shape=\"" + shapeText(dims, "?") + "\" element_type=\"f32\"", {}, dims);
    }

    Port constant(const std::vector<float> &values, const std::vector<int64_t> &dims) {
        return constantBytes(values.data(), values.size() * sizeof(float), dims, "f32", "FP32");
    }

    Port constantI64(const std::vector<int64_t> &values) {
        return constantBytes(values.data(), values.size() * sizeof(int64_t), {static_cast<int64_t>(values.size())}, "i64", "I64");
    }

    Port node(const std::string &type, const std::string &version, const std::string &attributes,
              const std::vector<Port> &inputs, const std::vector<int64_t> &dims) {
        return add(type, version, attributes, inputs, dims);
    }

    void result(const Port &input) { add("Result", "opset1", "", {input}, {}, false); }

    std::string xml() const {
        return "<?xml version=\"1.0\"?>\n<net name=\"darknet\" version=\"11\">\n<layers>\n" + layers_ + "</layers>\n<edges>\n" +
               edges_ + "</edges>\n</net>\n";
    }

    std::vector<uint8_t> takeWeights() { return std::move(weights_); }

private:
    static std::string shapeText(const std::vector<int64_t> &dims, const char *dynamic) {
        std::string text;
        for (size_t i = 0; i < dims.size(); i++) text += (i ? "," : "") + (dims[i] < 0 ? std::string(dynamic) : std::to_string(dims[i]));
        return text;
    }

    static std::string portText(int id, const std::vector<int64_t> &dims, const char *precision) {
        std::string text = "<port id=\"" + std::to_string(id) + "\" precision=\"" + precision + "\">";
        for (int64_t d : dims) text += "<dim>" + std::to_string(d) + "</dim>";
        return text + "</port>";
    }

    Port constantBytes(const void *data, size_t size, const std::vector<int64_t> &dims, const char *type, const char *precision) {
        /* Each constant starts on a 64-byte boundary of the blob. */
        size_t offset = (weights_.size() + 63) / 64 * 64;
        weights_.resize(offset + size);
        std::memcpy(weights_.data() + offset, data, size);
        std::string attributes = "element_type=\"" + std::string(type) + "\" shape=\"" + shapeText(dims, "?") + "\" offset=\"" +
                                 std::to_string(offset) + "\" size=\"" + std::to_string(size) + "\"";
        Port port = add("Const", "opset1", attributes, {}, dims);
        port.precision = precision;
        /* add() wrote the port as FP32; constants of other types say so. */
        if (std::strcmp(precision, "FP32") != 0) {
            size_t at = layers_.rfind("precision=\"FP32\"");
            layers_.replace(at, std::strlen("precision=\"FP32\""), "precision=\"" + std::string(precision) + "\"");
        }
        return port;
    }

    Port add(const std::string &type, const std::string &version, const std::string &attributes, const std::vector<Port> &inputs,
             const std::vector<int64_t> &dims, bool hasOutput = true) {
        int id = next_++;
        layers_ += "<layer id=\"" + std::to_string(id) + "\" name=\"" + type + "_" + std::to_string(id) + "\" type=\"" + type +
                   "\" version=\"" + version + "\">";
        if (!attributes.empty()) layers_ += "<data " + attributes + "/>";
        if (!inputs.empty()) {
            layers_ += "<input>";
            for (size_t i = 0; i < inputs.size(); i++) {
                layers_ += portText(static_cast<int>(i), inputs[i].dims, inputs[i].precision);
                edges_ += "<edge from-layer=\"" + std::to_string(inputs[i].layer) + "\" from-port=\"" +
                          std::to_string(inputs[i].port) + "\" to-layer=\"" + std::to_string(id) + "\" to-port=\"" +
                          std::to_string(i) + "\"/>\n";
            }
            layers_ += "</input>";
        }
        Port output{id, static_cast<int>(inputs.size()), dims, "FP32"};
        if (hasOutput) layers_ += "<output>" + portText(output.port, dims, "FP32") + "</output>";
        layers_ += "</layer>\n";
        return output;
    }

    std::string layers_, edges_;
    std::vector<uint8_t> weights_;
    int next_ = 0;
};

std::string where(const Section &section) { return "[" + section.type + "] at line " + std::to_string(section.line); }

/* A convolution, its bias and its activation; batch normalisation folded
 * into the kernel and the bias (Darknet divides by sqrt(variance) + 1e-6). */
IRBuilder::Port convolution(IRBuilder &ir, WeightsReader &weights, const Section &section, const IRBuilder::Port &input) {
    const int64_t channels = input.dims[1];
    const int filters = section.integer("filters", 1), size = section.integer("size", 1), stride = section.integer("stride", 1);
    const int padding = section.integer("pad", 0) ? size / 2 : section.integer("padding", 0);
    const bool normalised = section.integer("batch_normalize", 0) != 0;
    const std::string activation = section.text("activation", "logistic");
    if (section.integer("groups", 1) != 1) throw std::runtime_error(where(section) + ": grouped convolutions are not supported");
    if (section.integer("dilation", 1) != 1 || section.values.count("stride_x") || section.values.count("stride_y")) {
        throw std::runtime_error(where(section) + ": dilated convolutions and separate x/y strides are not supported");
    }
    if (activation != "leaky" && activation != "linear") {
        throw std::runtime_error(where(section) + ": activation " + activation + " is not supported (leaky and linear are)");
    }
    if (filters < 1 || size < 1 || stride < 1) throw std::runtime_error(where(section) + ": filters, size and stride must be positive");

    std::vector<float> bias = weights.floats(filters);
    std::vector<float> scale(filters, 1.0f);
    if (normalised) {
        std::vector<float> gamma = weights.floats(filters), mean = weights.floats(filters), variance = weights.floats(filters);
        for (int f = 0; f < filters; f++) {
            scale[f] = gamma[f] / (std::sqrt(variance[f]) + 0.000001f);
            bias[f] -= mean[f] * scale[f];
        }
    }
    const size_t perFilter = static_cast<size_t>(channels) * size * size;
    std::vector<float> kernel = weights.floats(perFilter * filters);
    for (int f = 0; f < filters; f++) {
        for (size_t k = 0; k < perFilter; k++) kernel[f * perFilter + k] *= scale[f];
    }

    const int64_t height = (input.dims[2] + 2 * padding - size) / stride + 1;
    const int64_t width = (input.dims[3] + 2 * padding - size) / stride + 1;
    const std::vector<int64_t> dims{-1, filters, height, width};
    const std::string pads = std::to_string(padding) + "," + std::to_string(padding);
    auto kernelPort = ir.constant(kernel, {filters, channels, size, size});
    auto convolved = ir.node("Convolution", "opset1",
                             "strides=\"" + std::to_string(stride) + "," + std::to_string(stride) + "\" dilations=\"1,1\" pads_begin=\"" +
                                 pads + "\" pads_end=\"" + pads + "\" auto_pad=\"explicit\"",
                             {input, kernelPort}, dims);
    auto biased = ir.node("Add", "opset1", "auto_broadcast=\"numpy\"", {convolved, ir.constant(bias, {1, filters, 1, 1})}, dims);
    if (activation == "linear") return biased;
    return ir.node("PRelu", "opset1", "", {biased, ir.constant({0.1f}, {1})}, dims);
}

/* Darknet pads a max-pool by size - 1 in all, the extra pixel at the end,
 * so a 2x2 pool with stride 1 keeps the size. */
IRBuilder::Port maxPool(IRBuilder &ir, const Section &section, const IRBuilder::Port &input) {
    const int size = section.integer("size", section.integer("stride", 1)), stride = section.integer("stride", 1);
    const int padding = section.integer("padding", size - 1);
    if (size < 1 || stride < 1) throw std::runtime_error(where(section) + ": size and stride must be positive");
    const int before = padding / 2, after = padding - before;
    const int64_t height = (input.dims[2] + padding - size) / stride + 1, width = (input.dims[3] + padding - size) / stride + 1;
    auto pair = [](int a) { return std::to_string(a) + "," + std::to_string(a); };
    return ir.node("MaxPool", "opset1",
                   "strides=\"" + pair(stride) + "\" pads_begin=\"" + pair(before) + "\" pads_end=\"" + pair(after) +
                       "\" kernel=\"" + pair(size) + "\" rounding_type=\"floor\" auto_pad=\"explicit\"",
                   {input}, {-1, input.dims[1], height, width});
}

IRBuilder::Port upsample(IRBuilder &ir, const Section &section, const IRBuilder::Port &input) {
    const int stride = section.integer("stride", 2);
    if (stride < 1) throw std::runtime_error(where(section) + ": stride must be positive");
    if (section.number("scale", 1) != 1) throw std::runtime_error(where(section) + ": a scaled upsample is not supported");
    auto scales = ir.constant({static_cast<float>(stride), static_cast<float>(stride)}, {2});
    auto axes = ir.constantI64({2, 3});
    return ir.node("Interpolate", "opset11",
                   "mode=\"nearest\" shape_calculation_mode=\"scales\" coordinate_transformation_mode=\"asymmetric\" "
                   "nearest_mode=\"floor\" antialias=\"false\" pads_begin=\"0,0,0,0\" pads_end=\"0,0,0,0\" cube_coeff=\"-0.75\"",
                   {input, scales, axes}, {-1, input.dims[1], input.dims[2] * stride, input.dims[3] * stride});
}

} // namespace

DarknetIR darknetToIR(const std::string &cfgPath, const std::string &weightsPath, int width, int height) {
    std::vector<Section> sections = readCfg(cfgPath);
    const Section &net = sections[0];
    DarknetIR result;
    result.width = width > 0 ? width : net.integer("width", 416);
    result.height = height > 0 ? height : net.integer("height", 416);
    if (result.width % 32 != 0 || result.height % 32 != 0) {
        throw std::runtime_error("the input size must be a multiple of 32, not " + std::to_string(result.width) + "x" +
                                 std::to_string(result.height));
    }
    if (net.integer("channels", 3) != 3) throw std::runtime_error(cfgPath + ": only 3-channel networks are supported");

    IRBuilder ir;
    WeightsReader weights(weightsPath);
    std::vector<IRBuilder::Port> outputs; /* each layer's output, by Darknet's layer index */
    IRBuilder::Port current = ir.parameter({-1, 3, result.height, result.width});
    for (size_t i = 1; i < sections.size(); i++) {
        const Section &section = sections[i];
        const int index = static_cast<int>(outputs.size());
        if (section.type == "convolutional") {
            current = convolution(ir, weights, section, current);
        } else if (section.type == "maxpool") {
            current = maxPool(ir, section, current);
        } else if (section.type == "upsample") {
            current = upsample(ir, section, current);
        } else if (section.type == "route") {
            if (section.integer("groups", 1) != 1) throw std::runtime_error(where(section) + ": grouped routes are not supported");
            std::vector<IRBuilder::Port> sources;
            int64_t channels = 0;
            for (int layer : section.integers("layers")) {
                int source = layer < 0 ? index + layer : layer;
                if (source < 0 || source >= index) throw std::runtime_error(where(section) + ": layer " + std::to_string(layer) + " does not exist");
                sources.push_back(outputs[source]);
                channels += outputs[source].dims[1];
                if (outputs[source].dims[2] != sources[0].dims[2] || outputs[source].dims[3] != sources[0].dims[3]) {
                    throw std::runtime_error(where(section) + ": the routed layers differ in size");
                }
            }
            if (sources.empty()) throw std::runtime_error(where(section) + ": no layers");
            current = sources.size() == 1 ? sources[0]
                                          : ir.node("Concat", "opset1", "axis=\"1\"", sources,
                                                    {-1, channels, sources[0].dims[2], sources[0].dims[3]});
        } else if (section.type == "yolo") {
            YoloHead head;
            head.classes = section.integer("classes", 80);
            if (head.classes < 1) throw std::runtime_error(where(section) + ": classes must be at least 1");
            if (section.integer("new_coords", 0) != 0) throw std::runtime_error(where(section) + ": new_coords is not supported");
            head.rows = current.dims[2];
            head.columns = current.dims[3];
            head.scaleXY = section.number("scale_x_y", 1);
            std::vector<int> all = section.integers("anchors"), mask = section.integers("mask");
            for (int m : mask) {
                if (m < 0 || 2 * static_cast<size_t>(m) + 1 >= all.size()) throw std::runtime_error(where(section) + ": mask names a missing anchor");
                head.anchors.push_back(static_cast<float>(all[2 * m]));
                head.anchors.push_back(static_cast<float>(all[2 * m + 1]));
            }
            if (current.dims[1] != static_cast<int64_t>(mask.size()) * (5 + head.classes)) {
                throw std::runtime_error(where(section) + ": the layer before has " + std::to_string(current.dims[1]) +
                                         " channels, not anchors x (5 + classes)");
            }
            ir.result(current);
            result.heads.push_back(head);
        } else {
            throw std::runtime_error(where(section) + " of " + cfgPath + ": this layer type is not supported");
        }
        outputs.push_back(current);
    }
    weights.finish();
    if (result.heads.empty()) throw std::runtime_error(cfgPath + " has no [yolo] layer");
    result.xml = ir.xml();
    result.weights = ir.takeWeights();
    return result;
}

} // namespace vision_detail
