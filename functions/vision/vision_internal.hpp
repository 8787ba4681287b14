/*
 * vision_internal.hpp — what vision.cpp and vision_net.cpp share. Every
 * entry point of vision.h runs its body through `guarded`, which turns
 * OpenCV's exceptions into an error message: no C++ exception may cross into
 * a function's C code or the host.
 */
#ifndef DESCRIBER_VISION_INTERNAL_HPP
#define DESCRIBER_VISION_INTERNAL_HPP

#include <opencv2/core.hpp>

#include <cstdio>
#include <exception>

namespace vision_detail {

inline void report(char *error, size_t size, const char *what) {
    if (error != nullptr && size > 0) std::snprintf(error, size, "%s", what);
}

/* Runs `body`; any exception becomes -1 and a message. */
template <typename Body> inline int guarded(char *error, size_t size, Body body) {
    try {
        return body();
    } catch (const cv::Exception &failure) {
        report(error, size, failure.msg.c_str());
    } catch (const std::exception &failure) {
        report(error, size, failure.what());
    }
    return -1;
}

} // namespace vision_detail

#endif
