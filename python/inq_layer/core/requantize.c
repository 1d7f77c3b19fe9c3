/* A quantizer on a blob of integers, in one pass: per channel y = x * mul[c] + add[c]
   (a folded BatchNorm/Scale or average, or a bias added at a finer scale, in int64;
   skipped without mul), with round24 y rounded to 24 significant bits, to nearest, ties
   to even (float32's rounding of Caffe's bias add), then max(y, 0) with relu, then the
   rounding shift: floor(y / 2^r + 1/2) for r > 0, y << -r otherwise (saturated first, so
   nothing overflows), then saturation to [lo, hi]. The caller proved |x * mul + add| <
   2^62 (below53: < 2^53). requantize.py's numpy path computes the same integers. */
#include <stdint.h>

#include "isa.h"

#define INQ_REQUANTIZE_VERSION 4

int inq_requantize_version(void) { return INQ_REQUANTIZE_VERSION; }

/* y rounded to 24 significant bits, ties to even, by counting bits (any y). */
static inline int64_t round24_bits(int64_t y) {
    uint64_t m = y < 0 ? -(uint64_t)y : (uint64_t)y;
    if (m < (1ull << 24)) return y;
    int r = 64 - __builtin_clzll(m) - 24;
    uint64_t top = m >> r, low = m & ((1ull << r) - 1), half = 1ull << (r - 1);
    top += (low > half) | ((low == half) & (top & 1));
    return y < 0 ? -(int64_t)(top << r) : (int64_t)(top << r);
}

/* One channel's run of n values. Inlined into loops whose flags are constants, so that
   each combination compiles to a loop without branches, which the compiler vectorises.
   Below 2^53 a double holds y exactly and its conversion to float rounds as round24. */
#define STEP(TIN, TOUT, ROUNDED, BELOW53, RELU, RSIGN)                                            \
    for (long i = 0; i < n; i++) {                                                                 \
        int64_t y = (int64_t)src[i] * m + a;                                                       \
        if (ROUNDED) y = BELOW53 ? (int64_t)(float)(double)y : round24_bits(y);                   \
        if (RELU) y = y < 0 ? 0 : y;                                                               \
        if (RSIGN > 0) {                                                                           \
            y = ((y >> (r - 1)) + 1) >> 1; /* arithmetic shifts: floor, so a tie rounds up */      \
        } else if (RSIGN < 0) {                                                                    \
            y = y > top ? top : y < bottom ? bottom : y;                                           \
            y = (int64_t)((uint64_t)y << -r);                                                      \
        }                                                                                          \
        dst[i] = (TOUT)(y > hi ? hi : y < lo ? lo : y);                                            \
    }

#define CASE(TIN, TOUT, ROUNDED, BELOW53, RELU, RSIGN)                                            \
    case ROUNDED * 12 + BELOW53 * 6 + RELU * 3 + RSIGN + 1:                                       \
        STEP(TIN, TOUT, ROUNDED, BELOW53, RELU, RSIGN) break;

#define RSIGNS(TIN, TOUT, ROUNDED, BELOW53, RELU)                                                 \
    CASE(TIN, TOUT, ROUNDED, BELOW53, RELU, -1)                                                    \
    CASE(TIN, TOUT, ROUNDED, BELOW53, RELU, 0) CASE(TIN, TOUT, ROUNDED, BELOW53, RELU, 1)

#define DEFINE_REQUANTIZE(NAME, TIN, TOUT, TARGET)                                                \
    TARGET static void NAME(const TIN *x, long outer, long channels, long inner, const int64_t *mul, \
                            const int64_t *add, int32_t rounded, int32_t below53, int32_t relu, int32_t r, \
                            int64_t lo, int64_t hi, TOUT *out) {                                   \
        int64_t top = r < 0 ? (hi >> -r) + 1 : 0, bottom = r < 0 ? lo >> -r : 0;                   \
        int key = (rounded != 0) * 12 + (below53 != 0) * 6 + (relu != 0) * 3 + (r > 0) - (r < 0) + 1; \
        for (long o = 0; o < outer; o++)                                                           \
            for (long c = 0; c < channels; c++) {                                                  \
                const TIN *src = x + (o * channels + c) * inner;                                   \
                TOUT *dst = out + (o * channels + c) * inner;                                      \
                int64_t m = mul ? mul[c] : 1, a = mul ? add[c] : 0;                                \
                long n = inner;                                                                    \
                switch (key) {                                                                     \
                    RSIGNS(TIN, TOUT, 0, 0, 0) RSIGNS(TIN, TOUT, 0, 0, 1)                          \
                    RSIGNS(TIN, TOUT, 0, 1, 0) RSIGNS(TIN, TOUT, 0, 1, 1)                          \
                    RSIGNS(TIN, TOUT, 1, 0, 0) RSIGNS(TIN, TOUT, 1, 0, 1)                          \
                    RSIGNS(TIN, TOUT, 1, 1, 0) RSIGNS(TIN, TOUT, 1, 1, 1)                          \
                }                                                                                  \
            }                                                                                      \
    }

#define DEFINE_ALL(SUFFIX, TARGET)                                                                \
    DEFINE_REQUANTIZE(i32_i16_##SUFFIX, int32_t, int16_t, TARGET)                                  \
    DEFINE_REQUANTIZE(i64_i16_##SUFFIX, int64_t, int16_t, TARGET)                                  \
    DEFINE_REQUANTIZE(i32_i32_##SUFFIX, int32_t, int32_t, TARGET)                                  \
    DEFINE_REQUANTIZE(i64_i32_##SUFFIX, int64_t, int32_t, TARGET)                                  \
    DEFINE_REQUANTIZE(i16_i64_##SUFFIX, int16_t, int64_t, TARGET)                                  \
    DEFINE_REQUANTIZE(i32_i64_##SUFFIX, int32_t, int64_t, TARGET)                                  \
    DEFINE_REQUANTIZE(i64_i64_##SUFFIX, int64_t, int64_t, TARGET)

DEFINE_ALL(base, )
#ifdef X86
DEFINE_ALL(avx2, TARGET_AVX2)
DEFINE_ALL(avx512, TARGET_AVX512)
#endif

/* The entry points run the widest instruction set this CPU has, or a narrower one that
   inq_requantize_isa chose (0 base, 1 AVX2, 2 AVX-512; -1 the widest); it returns the one
   in use. Every set computes the same integers. */
static int isa = -1;

int inq_requantize_isa(int want) {
    isa = inq_choose_isa(want);
    return isa;
}

#ifdef X86
#define ENTRY(NAME, TIN, TOUT)                                                                     \
    void inq_requantize_##NAME(const TIN *x, long outer, long channels, long inner, const int64_t *mul, \
                               const int64_t *add, int32_t rounded, int32_t below53, int32_t relu, int32_t r, \
                               int64_t lo, int64_t hi, TOUT *out) {                                \
        if (isa < 0) inq_requantize_isa(-1);                                                       \
        if (isa == 2) NAME##_avx512(x, outer, channels, inner, mul, add, rounded, below53, relu, r, lo, hi, out); \
        else if (isa == 1) NAME##_avx2(x, outer, channels, inner, mul, add, rounded, below53, relu, r, lo, hi, out); \
        else NAME##_base(x, outer, channels, inner, mul, add, rounded, below53, relu, r, lo, hi, out); \
    }
#else
#define ENTRY(NAME, TIN, TOUT)                                                                     \
    void inq_requantize_##NAME(const TIN *x, long outer, long channels, long inner, const int64_t *mul, \
                               const int64_t *add, int32_t rounded, int32_t below53, int32_t relu, int32_t r, \
                               int64_t lo, int64_t hi, TOUT *out) {                                \
        NAME##_base(x, outer, channels, inner, mul, add, rounded, below53, relu, r, lo, hi, out);  \
    }
#endif

ENTRY(i32_i16, int32_t, int16_t)
ENTRY(i64_i16, int64_t, int16_t)
ENTRY(i32_i32, int32_t, int32_t)
ENTRY(i64_i32, int64_t, int32_t)
ENTRY(i16_i64, int16_t, int64_t) /* r = 0 and the int64 range: the affine map alone */
ENTRY(i32_i64, int32_t, int64_t)
ENTRY(i64_i64, int64_t, int64_t)
