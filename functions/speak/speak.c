/*
 * speak — text in, speech out, on libespeak-ng.
 *
 * Copyright 2026 the Describer authors. SPDX-License-Identifier: GPL-3.0-or-later
 * (This function links libespeak-ng, which is GPL-3.0-or-later; see LICENSE.
 * The rest of Describer is Apache-2.0 and does not link espeak-ng.)
 *
 * Request body: UTF-8 text. Answer: a RIFF WAV (PCM S16LE, mono, at
 * espeak-ng's sample rate), or with ?format=json an object with the spoken
 * text, word timings and the WAV in base64.
 *
 * espeak-ng facts this code is built around (see the project's reference
 * notes on speech):
 *  - its state is global and it is not thread-safe, so a process holds one
 *    instance and the function is neither reentrant nor batch-capable;
 *  - synchronous mode runs the synthesis callback on the calling thread,
 *    which is the instance's own host thread;
 *  - each voice change allocates a voice copy freed only by synthesis, so
 *    the voice is set only when it changes;
 *  - it has crashed on long words and punctuation runs, so text goes
 *    through speak_prepare_text first (text.c);
 *  - espeak_ng_Initialize sets LC_CTYPE to C.UTF-8 for the whole process.
 */
#include "describer_function.h"
#include "text.h"

#include <espeak-ng/espeak_ng.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const describer_function_info speak_info = {
    .struct_size = sizeof(describer_function_info),
    .abi_major = DESCRIBER_ABI_VERSION_MAJOR,
    .abi_minor = DESCRIBER_ABI_VERSION_MINOR,
    .name = "speak",
    .version = "1.0.0",
    .capabilities = 0, /* one request per call, never two calls at once */
    .input_kind = DESCRIBER_INPUT_BYTES,
};

DESCRIBER_EXPORT const describer_function_info *describer_function_get_info(void) { return &speak_info; }

typedef struct speak_instance {
    const describer_host *host;
    char default_voice[65];
    char current_voice[65];
    size_t max_characters;
    size_t max_samples;
    int sample_rate;
} speak_instance;

/* espeak-ng's globals allow one live instance per process. */
static pthread_mutex_t instance_lock = PTHREAD_MUTEX_INITIALIZER;
static bool instance_alive = false;
/* The engine is initialised once per process and never terminated:
 * espeak_ng_Terminate in 1.51 deadlocks joining its internal FIFO thread
 * (seen here: it waits on a condition that thread never signals), and a
 * second espeak_ng_Initialize would start another. An instance destroyed
 * by scale-to-zero therefore frees only its own state; the engine's memory
 * (a few MB) is freed when the process exits, which is what the process
 * isolation tier is for. Guarded by instance_lock. */
static bool engine_ready = false;
static char engine_data_path[1024];

/* ---- options -------------------------------------------------------------
 * The host serialises options canonically (one flat JSON object, no
 * insignificant white space, values typed by the manifest), so a lookup of
 * `"key":` is reliable for the simple values used here. */

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

/* Reads an integer option; returns `fallback` when absent. */
static long json_int(const char *json, size_t size, const char *key, long fallback) {
    const char *value = json_value(json, size, key);
    if (value == NULL) return fallback;
    char *end;
    long result = strtol(value, &end, 10);
    return end == value ? fallback : result;
}

/* Copies a JSON string option without escapes into `out` (capacity bytes).
 * Returns false when absent, escaped or too long. */
static bool json_string(const char *json, size_t size, const char *key, char *out, size_t capacity) {
    const char *value = json_value(json, size, key);
    const char *end = json + size;
    if (value == NULL || value >= end || *value != '"') return false;
    const char *start = value + 1;
    const char *stop = memchr(start, '"', (size_t)(end - start));
    if (stop == NULL || memchr(start, '\\', (size_t)(stop - start)) != NULL) return false;
    size_t length = (size_t)(stop - start);
    if (length + 1 > capacity) return false;
    memcpy(out, start, length);
    out[length] = '\0';
    return true;
}

/* An espeak voice name: letters, digits and - _ + only (it becomes a file name inside espeak-ng-data). */
static bool valid_voice_name(const char *name) {
    if (*name == '\0') return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '+';
        if (!ok) return false;
    }
    return true;
}

static void fail(const describer_host *host, describer_call *call, size_t index, describer_status status,
                 const char *format, ...) __attribute__((format(printf, 5, 6)));

static void fail(const describer_host *host, describer_call *call, size_t index, describer_status status,
                 const char *format, ...) {
    char message[512];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(message, sizeof message, format, arguments);
    va_end(arguments);
    if (length < 0) length = 0;
    if ((size_t)length >= sizeof message) length = sizeof message - 1;
    host->fail(call, index, status, message, (size_t)length);
}

static void espeak_message(espeak_ng_STATUS status, char *buffer, size_t capacity) {
    espeak_ng_GetStatusCodeMessage(status, buffer, capacity);
}

/* ---- lifecycle ---------------------------------------------------------- */

DESCRIBER_EXPORT int describer_instance_create(const describer_host *host, describer_call *call, const char *options,
                                               size_t options_size, void **out_instance) {
    pthread_mutex_lock(&instance_lock);
    if (instance_alive) {
        pthread_mutex_unlock(&instance_lock);
        fail(host, call, 0, DESCRIBER_STATUS_FAILED,
             "espeak-ng keeps its state in process globals, so a process holds one speak instance; "
             "set scaling.max_instances to 1");
        return 1;
    }
    instance_alive = true;
    pthread_mutex_unlock(&instance_lock);

    speak_instance *instance = calloc(1, sizeof *instance);
    if (instance == NULL) goto out_of_memory;
    instance->host = host;
    if (!json_string(options, options_size, "voice", instance->default_voice, sizeof instance->default_voice)) {
        strcpy(instance->default_voice, "en-us");
    }
    if (!valid_voice_name(instance->default_voice)) {
        fail(host, call, 0, DESCRIBER_STATUS_INVALID_INPUT, "options.voice '%s' is not an espeak voice name",
             instance->default_voice);
        goto failed;
    }
    long max_characters = json_int(options, options_size, "max_characters", 20000);
    long max_seconds = json_int(options, options_size, "max_audio_seconds", 3600);
    if (max_characters < 1 || max_characters > 10000000 || max_seconds < 1 || max_seconds > 86400) {
        fail(host, call, 0, DESCRIBER_STATUS_INVALID_INPUT,
             "options.max_characters must be 1..10000000 and options.max_audio_seconds 1..86400");
        goto failed;
    }
    instance->max_characters = (size_t)max_characters;

    char data_path[1024] = "";
    json_string(options, options_size, "data_path", data_path, sizeof data_path);
    if (!engine_ready) {
        espeak_ng_InitializePath(data_path[0] ? data_path : NULL);
        espeak_ng_ERROR_CONTEXT context = NULL;
        espeak_ng_STATUS status = espeak_ng_Initialize(&context);
        if (status == ENS_OK) status = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL);
        if (status != ENS_OK) {
            char reason[256];
            espeak_message(status, reason, sizeof reason);
            espeak_ng_ClearErrorContext(&context);
            fail(host, call, 0, DESCRIBER_STATUS_FAILED, "espeak-ng could not start: %s (data path: %s)", reason,
                 data_path[0] ? data_path : "the library's default");
            goto failed;
        }
        strcpy(engine_data_path, data_path);
        engine_ready = true; /* only the thread holding instance_alive gets here */
    } else if (strcmp(engine_data_path, data_path) != 0) {
        fail(host, call, 0, DESCRIBER_STATUS_FAILED,
             "espeak-ng was started with data path '%s' in this process; restart to use '%s'", engine_data_path,
             data_path);
        goto failed;
    }
    instance->sample_rate = espeak_ng_GetSampleRate();
    instance->max_samples = (size_t)max_seconds * (size_t)instance->sample_rate;
    if (espeak_ng_SetVoiceByName(instance->default_voice) != ENS_OK) {
        fail(host, call, 0, DESCRIBER_STATUS_INVALID_INPUT, "espeak-ng has no voice '%s' (options.voice)",
             instance->default_voice);
        goto failed;
    }
    strcpy(instance->current_voice, instance->default_voice);
    *out_instance = instance;
    return 0;

out_of_memory:
    fail(host, call, 0, DESCRIBER_STATUS_FAILED, "out of memory");
failed:
    free(instance);
    pthread_mutex_lock(&instance_lock);
    instance_alive = false;
    pthread_mutex_unlock(&instance_lock);
    return 1;
}

DESCRIBER_EXPORT void describer_instance_destroy(void *opaque) {
    /* The engine stays initialised; see engine_ready. */
    free(opaque);
    pthread_mutex_lock(&instance_lock);
    instance_alive = false;
    pthread_mutex_unlock(&instance_lock);
}

/* ---- synthesis ---------------------------------------------------------- */

typedef struct word_timing {
    int text_position; /* espeak-ng's: 1-based, in code points */
    int length;
    int audio_ms;
} word_timing;

/* What the synthesis callback fills in; passed as espeak's user_data. */
typedef struct synthesis {
    const describer_host *host;
    describer_call *call;
    size_t index;
    size_t max_samples;
    int16_t *samples;
    size_t sample_count, sample_capacity;
    word_timing *words;
    size_t word_count, word_capacity;
    bool want_words;
    bool expired, too_long, out_of_memory;
} synthesis;

static bool grow(void **buffer, size_t *capacity, size_t needed, size_t element) {
    if (needed <= *capacity) return true;
    size_t next = *capacity ? *capacity : 4096;
    while (next < needed) next *= 2;
    void *grown = realloc(*buffer, next * element);
    if (grown == NULL) return false;
    *buffer = grown;
    *capacity = next;
    return true;
}

/* Called by espeak-ng on this thread with each chunk of audio; returning 1
 * stops the synthesis (deadline passed, too long, out of memory). */
static int on_audio(short *wav, int count, espeak_EVENT *events) {
    synthesis *s = events ? (synthesis *)events[0].user_data : NULL;
    if (s == NULL) return 0;
    for (espeak_EVENT *event = events; event->type != espeakEVENT_LIST_TERMINATED; event++) {
        /* espeak-ng also reports a zero-length "word" at the end of a sentence. */
        if (event->type == espeakEVENT_WORD && event->length > 0 && s->want_words) {
            if (!grow((void **)&s->words, &s->word_capacity, s->word_count + 1, sizeof(word_timing))) {
                s->out_of_memory = true;
                return 1;
            }
            s->words[s->word_count++] = (word_timing){event->text_position, event->length, event->audio_position};
        }
    }
    if (wav != NULL && count > 0) {
        if (s->sample_count + (size_t)count > s->max_samples) {
            s->too_long = true;
            return 1;
        }
        if (!grow((void **)&s->samples, &s->sample_capacity, s->sample_count + (size_t)count, sizeof(int16_t))) {
            s->out_of_memory = true;
            return 1;
        }
        memcpy(s->samples + s->sample_count, wav, (size_t)count * sizeof(int16_t));
        s->sample_count += (size_t)count;
    }
    if (s->host->expired(s->call, s->index)) {
        s->expired = true;
        return 1;
    }
    return 0;
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}
static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

/* A RIFF WAV of the samples: PCM, 16-bit little-endian, mono. */
static uint8_t *make_wav(const int16_t *samples, size_t count, int sample_rate, size_t *out_size) {
    size_t data_size = count * 2;
    uint8_t *wav = malloc(44 + data_size);
    if (wav == NULL) return NULL;
    memcpy(wav, "RIFF", 4);
    put_u32(wav + 4, (uint32_t)(36 + data_size));
    memcpy(wav + 8, "WAVEfmt ", 8);
    put_u32(wav + 16, 16);                          /* fmt chunk size */
    put_u16(wav + 20, 1);                           /* PCM */
    put_u16(wav + 22, 1);                           /* mono */
    put_u32(wav + 24, (uint32_t)sample_rate);
    put_u32(wav + 28, (uint32_t)sample_rate * 2);   /* byte rate */
    put_u16(wav + 32, 2);                           /* block align */
    put_u16(wav + 34, 16);                          /* bits per sample */
    memcpy(wav + 36, "data", 4);
    put_u32(wav + 40, (uint32_t)data_size);
    for (size_t i = 0; i < count; i++) put_u16(wav + 44 + 2 * i, (uint16_t)samples[i]);
    *out_size = 44 + data_size;
    return wav;
}

/* A growable string for the JSON answer. */
typedef struct text_buffer {
    char *bytes;
    size_t size, capacity;
    bool failed;
} text_buffer;

static void append(text_buffer *b, const char *bytes, size_t size) {
    if (b->failed) return;
    if (!grow((void **)&b->bytes, &b->capacity, b->size + size + 1, 1)) {
        b->failed = true;
        return;
    }
    memcpy(b->bytes + b->size, bytes, size);
    b->size += size;
}

static void appendf(text_buffer *b, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void appendf(text_buffer *b, const char *format, ...) {
    char scratch[128];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(scratch, sizeof scratch, format, arguments);
    va_end(arguments);
    if (length > 0) append(b, scratch, (size_t)length < sizeof scratch ? (size_t)length : sizeof scratch - 1);
}

static void append_json_string(text_buffer *b, const char *text, size_t size) {
    append(b, "\"", 1);
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            append(b, escaped, 2);
        } else if (c < 0x20) {
            appendf(b, "\\u%04x", c);
        } else {
            append(b, (const char *)&text[i], 1);
        }
    }
    append(b, "\"", 1);
}

static void append_base64(text_buffer *b, const uint8_t *data, size_t size) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!grow((void **)&b->bytes, &b->capacity, b->size + (size + 2) / 3 * 4 + 1, 1)) {
        b->failed = true;
        return;
    }
    char *out = b->bytes + b->size;
    size_t i = 0;
    for (; i + 3 <= size; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *out++ = alphabet[v >> 18], *out++ = alphabet[(v >> 12) & 63], *out++ = alphabet[(v >> 6) & 63],
        *out++ = alphabet[v & 63];
    }
    if (i < size) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < size ? (uint32_t)data[i + 1] << 8 : 0);
        *out++ = alphabet[v >> 18], *out++ = alphabet[(v >> 12) & 63];
        *out++ = i + 1 < size ? alphabet[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    b->size = (size_t)(out - b->bytes);
}

/* Byte offset of the 1-based code point `position` in UTF-8 `text`. */
static size_t byte_offset(const char *text, size_t size, int position) {
    size_t offset = 0;
    for (int seen = 1; seen < position && offset < size; seen++) {
        offset++;
        while (offset < size && ((unsigned char)text[offset] & 0xC0) == 0x80) offset++;
    }
    return offset;
}

static bool apply_parameters(speak_instance *instance, const describer_request *request, describer_call *call,
                             size_t index) {
    const describer_host *host = instance->host;
    const char *json = request->options_json;
    size_t size = request->options_size;
    char voice[65];
    if (!json_string(json, size, "voice", voice, sizeof voice)) strcpy(voice, instance->default_voice);
    if (!valid_voice_name(voice)) {
        fail(host, call, index, DESCRIBER_STATUS_INVALID_INPUT,
             "voice '%s' is not an espeak voice name (letters, digits, - _ + only)", voice);
        return false;
    }
    /* Only on a change: each voice change allocates until the next synthesis. */
    if (strcmp(voice, instance->current_voice) != 0) {
        if (espeak_ng_SetVoiceByName(voice) != ENS_OK) {
            fail(host, call, index, DESCRIBER_STATUS_INVALID_INPUT, "espeak-ng has no voice '%s'", voice);
            /* espeak-ng may have dropped the old voice; restore it for the next request. */
            espeak_ng_SetVoiceByName(instance->current_voice);
            return false;
        }
        strcpy(instance->current_voice, voice);
    }
    char punctuation[8] = "none";
    json_string(json, size, "punctuation", punctuation, sizeof punctuation);
    int punct = strcmp(punctuation, "all") == 0 ? espeakPUNCT_ALL
                : strcmp(punctuation, "some") == 0 ? espeakPUNCT_SOME
                                                    : espeakPUNCT_NONE;
    /* Set every parameter on every request: espeak-ng keeps them globally,
     * and a cancelled synthesis restores older values. */
    espeak_ng_SetParameter(espeakRATE, (int)json_int(json, size, "rate", 175), 0);
    espeak_ng_SetParameter(espeakPITCH, (int)json_int(json, size, "pitch", 50), 0);
    espeak_ng_SetParameter(espeakRANGE, (int)json_int(json, size, "range", 50), 0);
    espeak_ng_SetParameter(espeakVOLUME, (int)json_int(json, size, "volume", 100), 0);
    espeak_ng_SetParameter(espeakWORDGAP, (int)json_int(json, size, "word_gap", 0), 0);
    espeak_ng_SetParameter(espeakPUNCTUATION, punct, 0);
    return true;
}

static void speak_one(speak_instance *instance, describer_call *call, const describer_request *request,
                      size_t index) {
    const describer_host *host = instance->host;
    char *text = NULL;
    size_t text_size, characters, error_offset;
    switch (speak_prepare_text(request->data, request->size, instance->max_characters, &text, &text_size,
                               &characters, &error_offset)) {
    case SPEAK_TEXT_OK:
        break;
    case SPEAK_TEXT_INVALID_UTF8:
        fail(host, call, index, DESCRIBER_STATUS_INVALID_INPUT, "the text is not valid UTF-8 (at byte %zu)",
             error_offset);
        return;
    case SPEAK_TEXT_TOO_LONG:
        fail(host, call, index, DESCRIBER_STATUS_TOO_LARGE, "the text is %zu characters long; the limit is %zu",
             characters, instance->max_characters);
        return;
    case SPEAK_TEXT_EMPTY:
        fail(host, call, index, DESCRIBER_STATUS_INVALID_INPUT, "there is no text to speak");
        return;
    }
    if (!apply_parameters(instance, request, call, index)) {
        free(text);
        return;
    }
    char format[8] = "wav";
    json_string(request->options_json, request->options_size, "format", format, sizeof format);

    synthesis s = {.host = host, .call = call, .index = index, .max_samples = instance->max_samples};
    s.want_words = strcmp(format, "json") == 0;
    espeak_SetSynthCallback(on_audio);
    espeak_ng_STATUS status = espeak_ng_Synthesize(text, text_size + 1, 0, POS_CHARACTER, 0,
                                                   espeakCHARS_UTF8 | espeakENDPAUSE, NULL, &s);
    uint8_t *wav = NULL;
    size_t wav_size = 0;
    if (s.expired) {
        fail(host, call, index, DESCRIBER_STATUS_DEADLINE, "the deadline passed after %zu ms of speech",
             s.sample_count * 1000 / (size_t)instance->sample_rate);
    } else if (s.too_long) {
        fail(host, call, index, DESCRIBER_STATUS_TOO_LARGE, "the speech would last longer than %zu s",
             instance->max_samples / (size_t)instance->sample_rate);
    } else if (s.out_of_memory) {
        fail(host, call, index, DESCRIBER_STATUS_FAILED, "out of memory while synthesising");
    } else if (status != ENS_OK) {
        char reason[256];
        espeak_message(status, reason, sizeof reason);
        fail(host, call, index, DESCRIBER_STATUS_FAILED, "espeak-ng failed: %s", reason);
    } else if ((wav = make_wav(s.samples, s.sample_count, instance->sample_rate, &wav_size)) == NULL) {
        fail(host, call, index, DESCRIBER_STATUS_FAILED, "out of memory while writing the WAV");
    } else if (!s.want_words) {
        host->respond(call, index, "audio/wav", wav, wav_size);
    } else {
        text_buffer json = {0};
        appendf(&json, "{\"sample_rate\":%d,\"duration_ms\":%zu,\"text\":", instance->sample_rate,
                s.sample_count * 1000 / (size_t)instance->sample_rate);
        append_json_string(&json, text, text_size);
        append(&json, ",\"words\":[", 10);
        for (size_t i = 0; i < s.word_count; i++) {
            /* Offsets are in the spoken (sanitised) text, returned above, in UTF-8 bytes. */
            size_t start = byte_offset(text, text_size, s.words[i].text_position);
            size_t end = byte_offset(text, text_size, s.words[i].text_position + s.words[i].length);
            appendf(&json, "%s{\"start_ms\":%d,\"offset\":%zu,\"length\":%zu}", i ? "," : "", s.words[i].audio_ms,
                    start, end - start);
        }
        append(&json, "],\"wav_base64\":\"", 16);
        append_base64(&json, wav, wav_size);
        append(&json, "\"}", 2);
        if (json.failed) {
            fail(host, call, index, DESCRIBER_STATUS_FAILED, "out of memory while writing the JSON answer");
        } else {
            host->respond(call, index, "application/json", (const uint8_t *)json.bytes, json.size);
        }
        free(json.bytes);
    }
    free(wav);
    free(s.samples);
    free(s.words);
    free(text);
}

DESCRIBER_EXPORT int describer_instance_process(void *opaque, describer_call *call, const describer_request *requests,
                                                size_t count) {
    speak_instance *instance = opaque;
    for (size_t i = 0; i < count; i++) speak_one(instance, call, describer_request_at(requests, i), i);
    return 0;
}
