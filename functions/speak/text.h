/*
 * text.h — checking and sanitising text before espeak-ng sees it.
 *
 * Copyright 2026 the Describer authors. SPDX-License-Identifier: GPL-3.0-or-later
 *
 * espeak-ng has crashed on odd input (stack overflows on long or repetitive
 * words, runs of punctuation), so text from OCR or from callers is treated
 * as untrusted: it must be valid UTF-8, and it is rewritten so that no token
 * is long and no punctuation run is long before synthesis.
 */
#ifndef SPEAK_TEXT_H
#define SPEAK_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* A word longer than this many code points is split with spaces. */
#define SPEAK_MAX_TOKEN 32
/* A run of ASCII punctuation is cut to this many characters. */
#define SPEAK_MAX_PUNCTUATION_RUN 3

typedef enum speak_text_status {
    SPEAK_TEXT_OK = 0,
    SPEAK_TEXT_INVALID_UTF8,  /* *error_offset: the offending byte */
    SPEAK_TEXT_TOO_LONG,      /* *characters: the input's length in code points */
    SPEAK_TEXT_EMPTY,         /* nothing but white space and control characters */
} speak_text_status;

/* Checks `size` bytes of `text` and writes a sanitised, NUL-terminated copy:
 * control characters become spaces, punctuation runs are cut, long tokens are
 * split. `max_characters` bounds the input's length in code points.
 * OWNERSHIP: on SPEAK_TEXT_OK, *out is malloc'd and the caller frees it;
 * otherwise *out is NULL. *characters receives the input's code point count
 * (as far as it was read). */
speak_text_status speak_prepare_text(const uint8_t *text, size_t size, size_t max_characters, char **out,
                                     size_t *out_size, size_t *characters, size_t *error_offset);

#endif
