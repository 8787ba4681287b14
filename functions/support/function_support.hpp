/*
 * function_support.hpp — small helpers the C++ functions share: reading
 * their options, finding files next to their library, failing a request,
 * escaping JSON strings. Header-only; include it after describer_function.h.
 */
#ifndef DESCRIBER_FUNCTION_SUPPORT_HPP
#define DESCRIBER_FUNCTION_SUPPORT_HPP

#include "describer_function.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace describer_support {

/* Flat lookup in the host's canonical JSON (see functions/echo/echo.c). */
inline const char *jsonValue(const char *json, size_t size, const char *key) {
    size_t keySize = std::strlen(key);
    for (size_t i = 0; i + keySize + 3 <= size; i++) {
        if (json[i] == '"' && std::memcmp(json + i + 1, key, keySize) == 0 && json[i + 1 + keySize] == '"' &&
            json[i + 2 + keySize] == ':') {
            return json + i + 3 + keySize;
        }
    }
    return nullptr;
}

inline double jsonNumber(const char *json, size_t size, const char *key, double fallback) {
    const char *value = jsonValue(json, size, key);
    if (value == nullptr) return fallback;
    char *end;
    double result = std::strtod(value, &end);
    return end == value ? fallback : result;
}

inline std::string jsonString(const char *json, size_t size, const char *key, const std::string &fallback) {
    const char *value = jsonValue(json, size, key);
    const char *end = json + size;
    if (value == nullptr || value >= end || *value != '"') return fallback;
    const char *stop = static_cast<const char *>(std::memchr(value + 1, '"', end - value - 1));
    if (stop == nullptr) return fallback;
    return std::string(value + 1, stop);
}

/* The folder holding the function's library, so that paths in the manifest
 * are relative to the function, not to wherever the host was started. */
inline std::string libraryDirectory() {
    Dl_info where{};
    if (dladdr(reinterpret_cast<const void *>(&describer_function_get_info), &where) == 0 || where.dli_fname == nullptr) {
        return ".";
    }
    std::string path = where.dli_fname;
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

/* The folder named by option `key` (default `fallback`), relative to the
 * library unless absolute. */
inline std::string folderOption(const char *options, size_t size, const char *key, const char *fallback) {
    std::string directory = jsonString(options, size, key, fallback);
    if (directory.empty() || directory[0] != '/') directory = libraryDirectory() + "/" + directory;
    return directory;
}

inline void fail(const describer_host *host, describer_call *call, size_t index, describer_status status,
                 const std::string &message) {
    host->fail(call, index, status, message.data(), message.size());
}

/* `text` made safe inside a JSON string (without the quotes). */
inline std::string jsonEscape(const std::string &text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += c;
        }
    }
    return out;
}

/* The body of describer_instance_process for a function that handles its
 * requests one by one: `one(index, request)` answers each, and an exception
 * fails only its own request, prefixed with `what`, never the host. */
template <typename One>
int processEach(const describer_host *host, describer_call *call, const describer_request *requests, size_t count,
                const char *what, One one) {
    for (size_t i = 0; i < count; i++) {
        try {
            one(i, *describer_request_at(requests, i));
        } catch (const std::exception &error) {
            fail(host, call, i, DESCRIBER_STATUS_FAILED, std::string(what) + error.what());
        }
    }
    return 0;
}

} // namespace describer_support

#endif
