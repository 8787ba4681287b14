/*
 * CDescriberFuzz.h — the C side of describer-fuzz: libFuzzer's driver, and
 * the fuzz target for describer-worker's decoding of the host's frames.
 */
#ifndef C_DESCRIBER_FUZZ_H
#define C_DESCRIBER_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point for a program that has its own main: describer-fuzz
 * picks the target first, then hands libFuzzer the rest of the command line. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/* Reads `data` as the stream of frames a worker receives from the host and
 * decodes each one as describer-worker does. Aborts if the decoding accepts
 * a request that points outside its frame. */
void describer_fuzz_worker_frames(const uint8_t *data, size_t size);

#endif /* C_DESCRIBER_FUZZ_H */
