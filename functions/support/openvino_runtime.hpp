/*
 * openvino_runtime.hpp — the OpenVINO C runtime, opened at run time.
 *
 * functions/openvino/fetch-runtime installs the runtime (libraries and C
 * headers, from the pinned openvino wheel; see MODELS.md) in
 * functions/openvino/runtime. Functions do not link it: they dlopen it when
 * an instance starts, so on a machine without it creating an instance fails
 * with a message naming the setup command while the rest of the service
 * keeps serving. Header-only; each library that includes it holds its own
 * copy of the loader, and the runtime is opened once per process.
 */
#ifndef DESCRIBER_OPENVINO_RUNTIME_HPP
#define DESCRIBER_OPENVINO_RUNTIME_HPP

#include <dlfcn.h>
#include <openvino/c/openvino.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace describer_support {

/* Appended to every "not installed" or "damaged" failure of the runtime. */
inline const char *openVINOSetupHint() {
    return "make -C functions/openvino (which scripts/setup runs) installs it";
}

#define DESCRIBER_OPENVINO_CALLS(X)                                                                                    \
    X(ov_core_create)                                                                                                  \
    X(ov_core_free)                                                                                                    \
    X(ov_core_read_model)                                                                                              \
    X(ov_core_read_model_from_memory_buffer)                                                                           \
    X(ov_model_free)                                                                                                   \
    X(ov_core_compile_model_props)                                                                                     \
    X(ov_compiled_model_free)                                                                                          \
    X(ov_compiled_model_create_infer_request)                                                                          \
    X(ov_infer_request_free)                                                                                           \
    X(ov_infer_request_set_input_tensor)                                                                               \
    X(ov_infer_request_infer)                                                                                          \
    X(ov_infer_request_start_async)                                                                                    \
    X(ov_infer_request_wait)                                                                                           \
    X(ov_infer_request_get_output_tensor_by_index)                                                                     \
    X(ov_shape_create)                                                                                                 \
    X(ov_shape_free)                                                                                                   \
    X(ov_tensor_create_from_host_ptr)                                                                                  \
    X(ov_tensor_get_shape)                                                                                             \
    X(ov_tensor_data)                                                                                                  \
    X(ov_tensor_free)                                                                                                  \
    X(ov_get_last_err_msg)                                                                                             \
    X(ov_free)

struct OpenVINO {
#define DESCRIBER_OPENVINO_DECLARE(name) decltype(&::name) name = nullptr;
    DESCRIBER_OPENVINO_CALLS(DESCRIBER_OPENVINO_DECLARE)
#undef DESCRIBER_OPENVINO_DECLARE
    const char *keyThreads = nullptr;         /* ov_property_key_inference_num_threads */
    const char *keyPerformanceMode = nullptr; /* ov_property_key_hint_performance_mode */
    const char *keyStreams = nullptr;         /* ov_property_key_num_streams */

    /* Throws with OpenVINO's own explanation when a call fails. The
     * runtime keeps one last message for the whole process and hands out a
     * copy, which is ours to free. */
    void check(ov_status_e status, const std::string &what) const {
        if (status == OK) return;
        std::string reason = what;
        if (const char *detail = ov_get_last_err_msg(); detail != nullptr) {
            if (*detail) reason += std::string(": ") + detail;
            ov_free(detail);
        }
        throw std::runtime_error(reason);
    }
};

/* Opens the runtime whose libraries are in `directory` once per process;
 * libraries are never unloaded, like the functions themselves. A failed
 * attempt is not cached, so installing the runtime later needs no restart.
 * NULL with `error` set on failure. */
inline const OpenVINO *openVINO(const std::string &directory, std::string &error) {
    static std::mutex lock;
    static std::unique_ptr<OpenVINO> loaded;
    std::lock_guard<std::mutex> guard(lock);
    if (loaded) return loaded.get();
    const std::string path = directory + "/libopenvino_c.so.2641";
    /* RTLD_LOCAL: OpenVINO's libstdc++-heavy symbols stay out of the host's
     * global namespace. Its own dependencies are found through its $ORIGIN
     * rpath, next to it. */
    void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        const char *reason = dlerror();
        error = "the OpenVINO runtime could not be loaded from " + directory + "; " + openVINOSetupHint() + " (" +
                (reason != nullptr ? reason : "unknown error") + ")";
        return nullptr;
    }
    auto runtime = std::make_unique<OpenVINO>();
    const char *missing = nullptr;
#define DESCRIBER_OPENVINO_RESOLVE(name)                                                                               \
    runtime->name = reinterpret_cast<decltype(runtime->name)>(dlsym(library, #name));                                 \
    if (runtime->name == nullptr && missing == nullptr) missing = #name;
    DESCRIBER_OPENVINO_CALLS(DESCRIBER_OPENVINO_RESOLVE)
#undef DESCRIBER_OPENVINO_RESOLVE
    auto threads = static_cast<const char *const *>(dlsym(library, "ov_property_key_inference_num_threads"));
    auto mode = static_cast<const char *const *>(dlsym(library, "ov_property_key_hint_performance_mode"));
    auto streams = static_cast<const char *const *>(dlsym(library, "ov_property_key_num_streams"));
    if (threads == nullptr || mode == nullptr || streams == nullptr) missing = missing ? missing : "ov_property_key_*";
    if (missing != nullptr) {
        error = path + " does not export " + missing + ", so it is not OpenVINO 2026.4.1; " + openVINOSetupHint();
        return nullptr; /* left open: dlclose of a C++ runtime library is not safe */
    }
    runtime->keyThreads = *threads;
    runtime->keyPerformanceMode = *mode;
    runtime->keyStreams = *streams;
    loaded = std::move(runtime);
    return loaded.get();
}

/* A network compiled for the CPU and its inference requests: one, tuned for
 * the latency of a single input, or one per stream, for independent inputs
 * run side by side (start/wait). Not thread-safe: one caller at a time, as
 * an instance's thread is. */
class OpenVINONetwork {
public:
    OpenVINONetwork() = default;
    OpenVINONetwork(const OpenVINONetwork &) = delete;
    OpenVINONetwork &operator=(const OpenVINONetwork &) = delete;
    ~OpenVINONetwork() {
        for (ov_infer_request_t *request : requests_) ov_->ov_infer_request_free(request);
        if (compiled_ != nullptr) ov_->ov_compiled_model_free(compiled_);
    }

    /* Compiles `model` (which stays the caller's) for the CPU with `threads`
     * inference threads (0: one per core). With one stream it is tuned for
     * the latency of one request; with `streams` > 1 the threads are shared
     * out among that many streams, each with its own request (slot). */
    void compile(const OpenVINO &runtime, ov_core_t *core, const ov_model_t *model, int threads, const std::string &name,
                 int streams = 1) {
        ov_ = &runtime;
        streams = std::max(1, streams);
        const std::string threadCount = std::to_string(threads < 0 ? 0 : threads);
        const std::string streamCount = std::to_string(streams);
        std::vector<ov_property_t> properties;
        if (streams > 1) properties.push_back({ov_->keyStreams, streamCount.c_str()});
        else properties.push_back({ov_->keyPerformanceMode, "LATENCY"});
        if (threads > 0) properties.push_back({ov_->keyThreads, threadCount.c_str()});
        ov_->check(ov_->ov_core_compile_model_props(core, model, "CPU", properties.size(), properties.data(), &compiled_),
                   "the model " + name + " could not be compiled for the CPU");
        for (int i = 0; i < streams; i++) {
            ov_infer_request_t *request = nullptr;
            ov_->check(ov_->ov_compiled_model_create_infer_request(compiled_, &request), "no inference request for " + name);
            requests_.push_back(request);
        }
    }

    /* Reads the model file at `path` and compiles it (see compile). */
    void load(const OpenVINO &runtime, ov_core_t *core, const std::string &path, int threads, const std::string &hint,
              int streams = 1) {
        ov_ = &runtime;
        ov_model_t *model = nullptr;
        ov_->check(ov_->ov_core_read_model(core, path.c_str(), nullptr, &model),
                   "the model " + path + " could not be read, it may be damaged; " + hint + " again");
        try {
            compile(runtime, core, model, threads, path, streams);
        } catch (...) {
            ov_->ov_model_free(model);
            throw;
        }
        ov_->ov_model_free(model);
    }

    /* How many requests (slots) can run side by side: the streams. */
    size_t slots() const { return requests_.size(); }

    /* Runs the network on one float32 input of `shape`, which is borrowed
     * for the call. Outputs are then read with output(). */
    void run(float *input, const std::vector<int64_t> &shape) {
        ov_tensor_t *tensor = inputTensor(input, shape);
        ov_status_e status = ov_->ov_infer_request_set_input_tensor(requests_[0], tensor);
        if (status == OK) status = ov_->ov_infer_request_infer(requests_[0]);
        ov_->ov_tensor_free(tensor);
        ov_->check(status, "inference failed");
    }

    /* Starts slot `slot` on one float32 input of `shape`, which stays
     * borrowed until wait(slot) has returned; other slots may run
     * meanwhile. */
    void start(size_t slot, float *input, const std::vector<int64_t> &shape) {
        ov_tensor_t *tensor = inputTensor(input, shape);
        /* The request keeps its own reference to the tensor. */
        ov_status_e status = ov_->ov_infer_request_set_input_tensor(requests_.at(slot), tensor);
        if (status == OK) status = ov_->ov_infer_request_start_async(requests_[slot]);
        ov_->ov_tensor_free(tensor);
        ov_->check(status, "inference failed");
    }

    /* Waits until slot `slot`'s inference has finished. */
    void wait(size_t slot) { ov_->check(ov_->ov_infer_request_wait(requests_.at(slot)), "inference failed"); }

    /* Output `index` of the last run of slot `slot`: its data and shape,
     * valid until that slot runs again. */
    const float *output(size_t index, std::vector<int64_t> &shape, size_t slot = 0) const {
        ov_tensor_t *output = nullptr;
        ov_->check(ov_->ov_infer_request_get_output_tensor_by_index(requests_.at(slot), index, &output), "no output");
        ov_shape_t dims{};
        void *data = nullptr;
        ov_status_e status = ov_->ov_tensor_get_shape(output, &dims);
        if (status == OK) {
            shape.assign(dims.dims, dims.dims + dims.rank);
            ov_->ov_shape_free(&dims);
            status = ov_->ov_tensor_data(output, &data);
        }
        /* The request keeps its own reference to the output's memory. */
        ov_->ov_tensor_free(output);
        ov_->check(status, "unreadable output");
        return static_cast<const float *>(data);
    }

    /* run() then output 0, for networks with one output. */
    const float *run(float *input, const std::vector<int64_t> &shape, std::vector<int64_t> &outputShape) {
        run(input, shape);
        return output(0, outputShape);
    }

private:
    ov_tensor_t *inputTensor(float *input, const std::vector<int64_t> &shape) {
        ov_shape_t inputShape{};
        ov_->check(ov_->ov_shape_create(static_cast<int64_t>(shape.size()), shape.data(), &inputShape), "bad input shape");
        ov_tensor_t *tensor = nullptr;
        ov_status_e status = ov_->ov_tensor_create_from_host_ptr(F32, inputShape, input, &tensor);
        ov_->ov_shape_free(&inputShape);
        ov_->check(status, "no input tensor");
        return tensor;
    }

    const OpenVINO *ov_ = nullptr;
    ov_compiled_model_t *compiled_ = nullptr;
    std::vector<ov_infer_request_t *> requests_;
};

} // namespace describer_support

#endif
