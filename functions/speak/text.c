/*
 * text.c — see text.h.
 *
 * Copyright 2026 the Describer authors. SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Decodes one UTF-8 sequence strictly (no overlongs, no surrogates, nothing
 * above U+10FFFF). Returns its length, or 0 when it is invalid. */
static size_t decode_utf8(const uint8_t *p, size_t available, uint32_t *code_point) {
    uint8_t lead = p[0];
    if (lead < 0x80) {
        *code_point = lead;
        return 1;
    }
    size_t length;
    uint32_t value, minimum;
    if ((lead & 0xE0) == 0xC0) {
        length = 2, value = lead & 0x1F, minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        length = 3, value = lead & 0x0F, minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        length = 4, value = lead & 0x07, minimum = 0x10000;
    } else {
        return 0;
    }
    if (available < length) return 0;
    for (size_t i = 1; i < length; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        value = (value << 6) | (p[i] & 0x3F);
    }
    if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
    *code_point = value;
    return length;
}

static bool is_space(uint32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static bool is_control(uint32_t c) { return (c < 0x20 && !is_space(c)) || c == 0x7F || (c >= 0x80 && c < 0xA0); }

static bool is_ascii_punctuation(uint32_t c) {
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

speak_text_status speak_prepare_text(const uint8_t *text, size_t size, size_t max_characters, char **out,
                                     size_t *out_size, size_t *characters, size_t *error_offset) {
    *out = NULL;
    *out_size = 0;
    *characters = 0;
    *error_offset = 0;

    /* First pass: validate and count, so nothing is allocated for bad input. */
    size_t count = 0;
    for (size_t i = 0; i < size;) {
        uint32_t c;
        size_t length = decode_utf8(text + i, size - i, &c);
        if (length == 0) {
            *error_offset = i;
            *characters = count;
            return SPEAK_TEXT_INVALID_UTF8;
        }
        i += length;
        count++;
    }
    *characters = count;
    if (count > max_characters) return SPEAK_TEXT_TOO_LONG;

    /* Every input byte yields at most one output byte, plus one space per
     * SPEAK_MAX_TOKEN code points, plus the NUL. */
    char *result = malloc(size + size / SPEAK_MAX_TOKEN + 2);
    if (result == NULL) return SPEAK_TEXT_TOO_LONG;
    size_t written = 0;
    size_t token = 0;        /* code points in the current token */
    size_t punctuation = 0;  /* length of the current ASCII punctuation run */
    bool spoken = false;
    for (size_t i = 0; i < size;) {
        uint32_t c;
        size_t length = decode_utf8(text + i, size - i, &c);
        const uint8_t *bytes = text + i;
        i += length;
        if (is_control(c)) c = ' ', bytes = (const uint8_t *)" ", length = 1;
        if (is_space(c)) {
            token = 0;
            punctuation = 0;
            result[written++] = (char)c;
            continue;
        }
        if (is_ascii_punctuation(c)) {
            if (++punctuation > SPEAK_MAX_PUNCTUATION_RUN) continue;
        } else {
            punctuation = 0;
            spoken = true;
        }
        if (token == SPEAK_MAX_TOKEN) {
            result[written++] = ' ';
            token = 0;
        }
        memcpy(result + written, bytes, length);
        written += length;
        token++;
    }
    result[written] = '\0';
    if (!spoken) {
        free(result);
        return SPEAK_TEXT_EMPTY;
    }
    *out = result;
    *out_size = written;
    return SPEAK_TEXT_OK;
}
