/*
 * exif.c — the one EXIF field the host needs, the orientation, read with a
 * small bounded parser rather than a whole EXIF library.
 *
 * Layout (TIFF 6.0): an 8-byte header ("II*\0" little-endian or "MM\0*"
 * big-endian, then the 32-bit offset of IFD0), then IFD0: a 16-bit entry
 * count and 12-byte entries (tag, type, count, value-or-offset). Orientation
 * is tag 0x0112, type SHORT, count 1, its value in the entry itself.
 */
#include "CImageDecode.h"

#include <string.h>

static uint32_t read16(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | (uint32_t)p[1];
}

static uint32_t read32(const uint8_t *p, int little) {
    return little ? read16(p, 1) | read16(p + 2, 1) << 16 : read16(p, 0) << 16 | read16(p + 2, 0);
}

uint32_t describer_image_exif_orientation(const uint8_t *tiff, size_t size) {
    if (tiff == NULL || size < 8) return 1;
    int little;
    if (memcmp(tiff, "II*\0", 4) == 0) little = 1;
    else if (memcmp(tiff, "MM\0*", 4) == 0) little = 0;
    else return 1;
    uint32_t offset = read32(tiff + 4, little);
    if (offset < 8 || offset > size - 2) return 1;
    uint32_t count = read16(tiff + offset, little);
    const uint8_t *entry = tiff + offset + 2;
    /* Only entries wholly inside the block; the count cannot walk past it. */
    size_t available = (size - offset - 2) / 12;
    if (count > available) count = (uint32_t)available;
    for (uint32_t i = 0; i < count; i++, entry += 12) {
        if (read16(entry, little) != 0x0112) continue;
        if (read16(entry + 2, little) != 3 /* SHORT */ || read32(entry + 4, little) != 1) return 1;
        uint32_t value = read16(entry + 8, little);
        return value >= 1 && value <= 8 ? value : 1;
    }
    return 1;
}
