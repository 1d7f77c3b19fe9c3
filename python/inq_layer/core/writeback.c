/* One-pass write-back of frozen INQ weights into a float32 blob (as uint32 bits).
 *
 * codes[i] is the upper half of the frozen value's bits (a power of two or zero has an
 * all-zero lower half), or 0xFFFF for a weight that is still float. numpy needs eight
 * passes and two temporaries for the same blend; right after Caffe's update the blob is
 * out of the near caches, and those passes cost about 3% of a LeNet iteration, this loop
 * about 1%. Built by scripts/setup.sh; python/inq_layer/writeback.py falls back to numpy
 * without it.
 */
#include <stddef.h>
#include <stdint.h>

#define INQ_WRITEBACK_VERSION 1

int inq_writeback_version(void) { return INQ_WRITEBACK_VERSION; }

void inq_writeback(uint32_t *restrict data, const uint16_t *restrict codes, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t keep = (uint32_t)(codes[i] == 0xFFFFu) - 1u; /* all ones where frozen */
        data[i] ^= (((uint32_t)codes[i] << 16) ^ data[i]) & keep;
    }
}
