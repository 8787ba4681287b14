/*
 * caption — describes a photo's scene in English, honestly.
 *
 * It describes what can be measured — light, sharpness, colour,
 * orientation — and runs the quality gate: a photo too dark, too bright,
 * too blurry or nearly uniform is reported as such, with advice, instead of
 * being described from bad pixels. What is in the photo comes from the
 * `detect` function; the describer speaks both.
 *
 * Input: RGB8 pixels, decoded and scaled by the host to fit 640x640.
 * Output: application/json
 *   {"text": "...", "quality": {"usable": true|false, "problems": [...], "advice": "..."},
 *    "facts": {"width":…, "height":…, "brightness":…, "contrast":…, "sharpness":…, "colours": {"green": 0.41, …}}}
 * Request option: verbosity = brief | normal | detailed.
 */
#include "describer_function.h"
#include "image_facts.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const describer_function_info caption_info = {
    .struct_size = sizeof(describer_function_info),
    .abi_major = DESCRIBER_ABI_VERSION_MAJOR,
    .abi_minor = DESCRIBER_ABI_VERSION_MINOR,
    .name = "caption",
    .version = "0.1.0",
    /* Stateless after create: any thread, any number of requests per call. */
    .capabilities = DESCRIBER_CAP_BATCH | DESCRIBER_CAP_REENTRANT,
    .input_kind = DESCRIBER_INPUT_RGB8,
    .max_width = 640,
    .max_height = 640,
};

DESCRIBER_EXPORT const describer_function_info *describer_function_get_info(void) { return &caption_info; }

/* The quality gate's thresholds, from the manifest's options. */
typedef struct caption_instance {
    const describer_host *host;
    double dark_brightness;     /* mean luma below this is too dark */
    double bright_brightness;   /* mean luma above this is washed out */
    double blur_edge;           /* peak tile edge energy (softest direction) below this is too blurry */
    double flat_contrast;       /* luma standard deviation below this is nearly uniform */
} caption_instance;

/* Flat lookup in the host's canonical JSON (see functions/echo/echo.c). */
static const char *json_value(const char *json, size_t size, const char *key) {
    size_t key_size = strlen(key);
    for (size_t i = 0; i + key_size + 3 <= size; i++) {
        if (json[i] == '"' && memcmp(json + i + 1, key, key_size) == 0 && json[i + 1 + key_size] == '"' &&
            json[i + 2 + key_size] == ':') {
            return json + i + 3 + key_size;
        }
    }
    return NULL;
}

static double json_number(const char *json, size_t size, const char *key, double fallback) {
    const char *value = json_value(json, size, key);
    if (value == NULL) return fallback;
    char *end;
    double result = strtod(value, &end);
    return end == value ? fallback : result;
}

DESCRIBER_EXPORT int describer_instance_create(const describer_host *host, describer_call *call, const char *options,
                                               size_t options_size, void **out_instance) {
    caption_instance *instance = calloc(1, sizeof *instance);
    if (instance == NULL) {
        host->fail(call, 0, DESCRIBER_STATUS_FAILED, "out of memory", 13);
        return 1;
    }
    instance->host = host;
    instance->dark_brightness = json_number(options, options_size, "dark_brightness", 40);
    instance->bright_brightness = json_number(options, options_size, "bright_brightness", 235);
    instance->blur_edge = json_number(options, options_size, "blur_edge", 30);
    instance->flat_contrast = json_number(options, options_size, "flat_contrast", 10);
    *out_instance = instance;
    return 0;
}

DESCRIBER_EXPORT void describer_instance_destroy(void *instance) { free(instance); }

/* A small growable string. */
typedef struct text {
    char *bytes;
    size_t size, capacity;
    bool failed;
} text;

static void appendf(text *t, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void appendf(text *t, const char *format, ...) {
    if (t->failed) return;
    for (;;) {
        va_list arguments;
        va_start(arguments, format);
        size_t room = t->capacity - t->size;
        int length = vsnprintf(t->bytes ? t->bytes + t->size : NULL, t->bytes ? room : 0, format, arguments);
        va_end(arguments);
        if (length < 0) {
            t->failed = true;
            return;
        }
        if (t->bytes && (size_t)length < room) {
            t->size += (size_t)length;
            return;
        }
        size_t capacity = (t->capacity ? t->capacity * 2 : 512) + (size_t)length;
        char *grown = realloc(t->bytes, capacity);
        if (grown == NULL) {
            t->failed = true;
            return;
        }
        t->bytes = grown;
        t->capacity = capacity;
    }
}

/* Appends "green", "green and blue" or "green, blue and white". */
static void append_list(text *t, const char *const *items, int count) {
    for (int i = 0; i < count; i++) {
        appendf(t, "%s%s", i == 0 ? "" : (i == count - 1 ? " and " : ", "), items[i]);
    }
}

typedef enum verbosity { BRIEF, NORMAL, DETAILED } verbosity;

static verbosity read_verbosity(const describer_request *request) {
    const char *value = json_value(request->options_json, request->options_size, "verbosity");
    if (value == NULL) return NORMAL;
    if (strncmp(value, "\"brief\"", 7) == 0) return BRIEF;
    if (strncmp(value, "\"detailed\"", 10) == 0) return DETAILED;
    return NORMAL;
}

static void describe(const caption_instance *instance, describer_call *call, size_t index,
                     const describer_request *request) {
    const describer_host *host = instance->host;
    caption_facts facts;
    if (caption_measure(request->data, request->width, request->height, request->stride, &facts) != 0) {
        static const char message[] = "out of memory while measuring the photo";
        host->fail(call, index, DESCRIBER_STATUS_FAILED, message, sizeof message - 1);
        return;
    }
    verbosity level = read_verbosity(request);

    /* The quality gate. Order matters: a dark photo also looks flat and soft. */
    const char *problems[4];
    int problem_count = 0;
    const char *advice = "";
    if (facts.brightness < instance->dark_brightness) {
        problems[problem_count++] = "too dark";
        advice = "Turn on a light or move nearer a window, then take the photo again.";
    } else if (facts.brightness > instance->bright_brightness) {
        problems[problem_count++] = "too bright";
        advice = "Move away from the light or turn so it is behind you, then take the photo again.";
    } else if (facts.contrast < instance->flat_contrast) {
        problems[problem_count++] = "almost uniform";
        advice = "The lens may be covered or pointed at a plain surface; check it and try again.";
    } else if (facts.peak_edge < instance->blur_edge) {
        problems[problem_count++] = "too blurry";
        advice = "Hold the camera steady, or rest your elbows on something, and take the photo again.";
    }
    bool usable = problem_count == 0;

    text sentence = {0};
    if (usable) {
        const char *shape = facts.width > facts.height * 1.2 ? "landscape"
                            : facts.height > facts.width * 1.2 ? "portrait"
                                                               : "square";
        const char *light = facts.brightness < 80 ? "dim" : facts.brightness > 190 ? "very bright" : "well-lit";
        bool sharp = facts.peak_edge > instance->blur_edge * 4;
        /* Colours covering at least 12% of the photo, largest first; greys
         * only when nothing else stands out, as they say little. */
        const char *names[4];
        int named = 0;
        bool used[COLOUR_COUNT] = {0};
        for (int round = 0; round < 3; round++) {
            int best = -1;
            for (int c = 0; c < COLOUR_COUNT; c++) {
                if (used[c] || facts.colour_share[c] < 0.12) continue;
                if (best < 0 || facts.colour_share[c] > facts.colour_share[best]) best = c;
            }
            if (best < 0) break;
            used[best] = true;
            names[named++] = caption_colour_name((caption_colour)best);
        }
        if (level == BRIEF) {
            appendf(&sentence, "A %s %s photo", light, shape);
            if (named > 0) {
                appendf(&sentence, ", mostly ");
                append_list(&sentence, names, named > 2 ? 2 : named);
            }
            appendf(&sentence, ".");
        } else {
            appendf(&sentence, "A %s, %s photo in %s format.", light, sharp ? "sharp" : "slightly soft", shape);
            if (named > 0) {
                appendf(&sentence, " Its main colours are ");
                append_list(&sentence, names, named);
                appendf(&sentence, ".");
            }
            if (facts.saturation < 0.08) appendf(&sentence, " It looks black and white.");
            if (level == DETAILED) {
                appendf(&sentence, " Brightness %d%%, contrast %s, %ux%u pixels as analysed.",
                        (int)(facts.brightness / 2.55 + 0.5), facts.contrast > 60 ? "high" : facts.contrast > 30 ? "medium" : "low",
                        facts.width, facts.height);
            }
        }
    }

    text json = {0};
    appendf(&json, "{\"text\":\"%s\",\"quality\":{\"usable\":%s,\"problems\":[", sentence.bytes ? sentence.bytes : "",
            usable ? "true" : "false");
    for (int i = 0; i < problem_count; i++) appendf(&json, "%s\"%s\"", i ? "," : "", problems[i]);
    appendf(&json, "],\"advice\":\"%s\"},\"facts\":{\"width\":%u,\"height\":%u,\"brightness\":%.1f,\"contrast\":%.1f,"
                   "\"sharpness\":%.1f,\"peak_sharpness\":%.1f,\"edge_energy\":%.1f,\"peak_edge\":%.1f,\"saturation\":%.3f,\"colours\":{",
            advice, facts.width, facts.height, facts.brightness, facts.contrast, facts.sharpness, facts.peak_sharpness,
            facts.edge_energy, facts.peak_edge, facts.saturation);
    bool first = true;
    for (int c = 0; c < COLOUR_COUNT; c++) {
        if (facts.colour_share[c] < 0.01) continue;
        appendf(&json, "%s\"%s\":%.3f", first ? "" : ",", caption_colour_name((caption_colour)c), facts.colour_share[c]);
        first = false;
    }
    appendf(&json, "}}}");
    if (json.failed || sentence.failed) {
        host->fail(call, index, DESCRIBER_STATUS_FAILED, "out of memory", 13);
    } else {
        host->respond(call, index, "application/json", (const uint8_t *)json.bytes, json.size);
    }
    free(json.bytes);
    free(sentence.bytes);
}

DESCRIBER_EXPORT int describer_instance_process(void *instance, describer_call *call, const describer_request *requests,
                                                size_t count) {
    for (size_t i = 0; i < count; i++) {
        const describer_request *request = describer_request_at(requests, i);
        if (instance == NULL || request->width == 0 || request->height == 0) {
            static const char message[] = "caption needs decoded RGB8 pixels";
            ((caption_instance *)instance)->host->fail(call, i, DESCRIBER_STATUS_INVALID_INPUT, message, sizeof message - 1);
            continue;
        }
        describe(instance, call, i, request);
    }
    return 0;
}
