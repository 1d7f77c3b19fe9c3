/* A quantizer on a blob of integers, in one pass: per channel y = x * mul[c] + add[c]
   (a folded BatchNorm/Scale or average, or a bias added at a finer scale, in int64;
   skipped without mul), with round24 y rounded to 24 significant bits, to nearest, ties
   to even (float32's rounding of Caffe's bias add), then max(y, 0) with relu, then the
   rounding shift: floor(y / 2^r + 1/2) for r > 0, y << -r otherwise (saturated first, so
   nothing overflows), then saturation to [lo, hi]. The caller proved |x * mul + add| <
   2^62 (below53: < 2^53). requantize.py's numpy path computes the same integers. */
#include <stdint.h>

#define INQ_REQUANTIZE_VERSION 2

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CLONES __attribute__((target_clones("arch=skylake-avx512", "avx2", "default")))
#else
#define CLONES
#endif

int inq_requantize_version(void) { return INQ_REQUANTIZE_VERSION; }

/* y rounded to 24 significant bits, ties to even. Below 2^53 a double holds y exactly and
   its conversion to float rounds so; above, the bits are counted. */
static inline int64_t round24(int64_t y, int32_t below53) {
    if (below53) return (int64_t)(float)(double)y;
    uint64_t m = y < 0 ? -(uint64_t)y : (uint64_t)y;
    if (m < (1ull << 24)) return y;
    int r = 64 - __builtin_clzll(m) - 24;
    uint64_t top = m >> r, low = m & ((1ull << r) - 1), half = 1ull << (r - 1);
    top += (low > half) | ((low == half) & (top & 1));
    return y < 0 ? -(int64_t)(top << r) : (int64_t)(top << r);
}

static inline int64_t finish(int64_t y, int32_t rounded, int32_t below53, int32_t relu, int32_t r, int64_t lo,
                             int64_t hi) {
    if (rounded) y = round24(y, below53);
    if (relu && y < 0) y = 0;
    if (r > 0) {
        y = ((y >> (r - 1)) + 1) >> 1; /* arithmetic shifts: floor, so a tie rounds up */
    } else if (r < 0) {
        int64_t top = (hi >> -r) + 1, bottom = lo >> -r;
        y = y > top ? top : y < bottom ? bottom : y;
        y = (int64_t)((uint64_t)y << -r);
    }
    return y > hi ? hi : y < lo ? lo : y;
}

#define DEFINE_REQUANTIZE(NAME, TIN, TOUT)                                                          \
    CLONES void NAME(const TIN *x, long outer, long channels, long inner, const int64_t *mul,       \
                     const int64_t *add, int32_t rounded, int32_t below53, int32_t relu, int32_t r,         \
                     int64_t lo, int64_t hi, TOUT *out) {                                                     \
        for (long o = 0; o < outer; o++)                                                             \
            for (long c = 0; c < channels; c++) {                                                    \
                const TIN *src = x + (o * channels + c) * inner;                                     \
                TOUT *dst = out + (o * channels + c) * inner;                                        \
                int64_t m = mul ? mul[c] : 1, a = mul ? add[c] : 0;                                  \
                for (long i = 0; i < inner; i++)                                                     \
                    dst[i] = (TOUT)finish((int64_t)src[i] * m + a, rounded, below53, relu, r, lo, hi); \
            }                                                                                        \
    }

DEFINE_REQUANTIZE(inq_requantize_i32_i16, int32_t, int16_t)
DEFINE_REQUANTIZE(inq_requantize_i64_i16, int64_t, int16_t)
DEFINE_REQUANTIZE(inq_requantize_i32_i32, int32_t, int32_t)
DEFINE_REQUANTIZE(inq_requantize_i64_i32, int64_t, int32_t)
