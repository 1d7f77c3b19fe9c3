/* Convolution of integer activations by power-of-two weights, as shifts and adds.

   The weights of output channel m that are not zero come in groups of one exponent:
   groups goff[m] .. goff[m + 1] - 1; group j lists rows idx[start[j] .. mid[j] - 1] that
   add and idx[mid[j] .. start[j + 1] - 1] that subtract (rows of the patch matrix:
   channel, kernel row, kernel column, as Caffe's im2col), then shifts that partial sum
   left by shift[j] into the output: in int32 where the engine proved the sums fit (every
   partial sum is bounded by the same sum of magnitudes), else in int64. Shifts run on the
   unsigned type: a negative sum shifted left is the same two's complement bits without
   C's undefined behaviour.

   An inner product is this convolution with a 1x1 kernel over one "image" whose
   channels are the fan-in and whose width is the batch. */
#include <stdint.h>

#include "isa.h"
#include <stdlib.h>
#include <string.h>

#define INQ_SHIFT_CONV_VERSION 7

int inq_shift_conv_version(void) { return INQ_SHIFT_CONV_VERSION; }

typedef struct {
    int32_t n, c, h, w, groups, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, m;
} conv_shape_t;

/* Each kernel is compiled once per instruction set, with vectors of that set's width
   (VEC bytes: a zmm register with AVX-512, a ymm one with AVX2, two xmm ones otherwise),
   and the entry point picks one at run time. A tile is NV vectors of each patch row:
   NV * VEC / sizeof(T) output positions whose patch rows stay in L1 across the output
   channels. Partial sums and accumulators are GCC/Clang vectors in arrays whose loops
   unroll, so that they stay in registers across the weights. T: the activations and a
   group's partial sum (int16 where the engine proved every group's sum fits 16 bits:
   twice the lanes per add); A: the accumulators, R = sizeof(A) / sizeof(T) of them per
   partial vector. Loads may be unaligned (aligned(sizeof(T))). */
#ifndef NV_BASE /* measured on LeNet and ResNet-8 layers (bench/bench_engine.py) */
#define NV_BASE 4
#define NV_AVX2 4
#define NV_AVX512 2
#endif
/* The patch rows' runs are short (a few to a few dozen values): copied in loops, not in
   calls to memcpy/memset, which the compiler would otherwise put in their place. */
#if defined(__GNUC__) && !defined(__clang__)
#define INLINE_COPIES __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define INLINE_COPIES
#endif
#define DEFINE_CONV(NAME, T, UT, A, UA, VEC, NV, TARGET)                                      \
    enum { NAME##_R = sizeof(A) / sizeof(T), NAME##_TILE = NV * VEC / sizeof(T) };                 \
    typedef UT NAME##_part __attribute__((vector_size(VEC), aligned(sizeof(T))));                 \
    typedef T NAME##_slice __attribute__((vector_size(VEC / (sizeof(A) / sizeof(T)))));           \
    typedef A NAME##_acc __attribute__((vector_size(VEC)));                                       \
    typedef UA NAME##_uacc __attribute__((vector_size(VEC)));                                     \
                                                                                                   \
    TARGET INLINE_COPIES static void NAME##_im2col(const conv_shape_t *s, const T *x, const T *end, T *col, \
                                                   long stride) {                                  \
        enum { CHUNK = 16 / sizeof(T) > 0 ? 16 / sizeof(T) : 1 };                                  \
        int cg = s->c / s->groups;                                                                 \
        long row = 0;                                                                              \
        for (int ch = 0; ch < cg; ch++)                                                            \
            for (int i = 0; i < s->kh; i++)                                                        \
                for (int j = 0; j < s->kw; j++, row++) {                                           \
                    T *r = col + row * stride;                                                     \
                    const T *plane = x + (long)ch * s->h * s->w;                                   \
                    long p = 0;                                                                    \
                    for (int oy = 0; oy < s->oh; oy++) {                                           \
                        int y = oy * s->sh - s->ph + i * s->dh;                                    \
                        if (y < 0 || y >= s->h) {                                                  \
                            for (int ox = 0; ox < s->ow; ox++) r[p + ox] = 0;                      \
                            p += s->ow;                                                            \
                            continue;                                                              \
                        }                                                                          \
                        const T *line = plane + (long)y * s->w;                                    \
                        int x0 = j * s->dw - s->pw;                                                \
                        if (s->sw == 1) { /* zeros left and right of one run of the line */       \
                            int a = x0 < 0 ? -x0 : 0, b = s->w - x0 < s->ow ? s->w - x0 : s->ow;  \
                            if (a > s->ow) a = s->ow;                                              \
                            if (b < a) b = a;                                                      \
                            for (int ox = 0; ox < a; ox++) r[p + ox] = 0;                          \
                            int ox = a;                                                            \
                            if (line + x0 + b + CHUNK <= end) /* 16-byte moves, past b at times */ \
                                for (; ox < b; ox += CHUNK) memcpy(r + p + ox, line + x0 + ox, 16); \
                            for (; ox < b; ox++) r[p + ox] = line[x0 + ox];                        \
                            for (ox = b; ox < s->ow; ox++) r[p + ox] = 0;                          \
                            p += s->ow;                                                            \
                            continue;                                                              \
                        }                                                                          \
                        for (int ox = 0; ox < s->ow; ox++, p++) {                                  \
                            int xx = ox * s->sw + x0;                                              \
                            r[p] = (xx >= 0 && xx < s->w) ? line[xx] : 0;                          \
                        }                                                                          \
                    }                                                                              \
                    for (; p < stride; p++) r[p] = 0;                                              \
                }                                                                                  \
    }                                                                                              \
                                                                                                   \
    /* Stride 1 reads no patch matrix: on a zero-padded copy of the input (width wp), the
       row of weight (ch, i, j) is the copy itself from ch's plane + i*dh*wp + j*dw, over
       positions p = oy*wp + ox. The sums are computed for every ox < wp (the ones past ow
       are dropped): a few more adds instead of a copy per kernel weight. */                      \
    TARGET INLINE_COPIES static void NAME##_pad(const conv_shape_t *s, const T *x, T *buf, long wp, long hp) { \
        int cg = s->c / s->groups;                                                                 \
        for (int ch = 0; ch < cg; ch++)                                                            \
            for (int y = 0; y < s->h; y++) {                                                       \
                const T *src = x + ((long)ch * s->h + y) * s->w;                                   \
                T *dst = buf + ((long)ch * hp + y + s->ph) * wp + s->pw;                           \
                for (int i = 0; i < s->w; i++) dst[i] = src[i];                                    \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    TARGET static int NAME(const conv_shape_t *s, const T *x, const int32_t *goff, const int32_t *start, \
                           const int32_t *mid, const int32_t *shift, const int32_t *idx, A *out) {  \
        enum { TILE = NAME##_TILE, R = NAME##_R };                                                 \
        long hp = s->h + 2L * s->ph, wp = s->w + 2L * s->pw;                                       \
        long p_count = (long)s->oh * s->ow;                                                        \
        /* direct while the dropped positions cost less than the copies (measured: 24 of 28 and \
           7 of 9 kept gain, 8 of 12 loses) */                                                     \
        int direct = s->sh == 1 && s->sw == 1 && 10 * ((long)(s->oh - 1) * wp + s->ow) <= 13 * p_count; \
        long span = direct ? (long)(s->oh - 1) * wp + s->ow : p_count; /* positions computed */    \
        long stride = (span + TILE - 1) / TILE * TILE;                                             \
        int cg = s->c / s->groups, mg = s->m / s->groups;                                          \
        long k = (long)cg * s->kh * s->kw;                                                         \
        /* the patch rows (16 bytes of slack: a move past the end of the last run), or the       \
           padded input (a tile's slack: the last tile reads past the last plane) */              \
        size_t n_buf = direct ? (size_t)(cg * hp * wp + TILE) : (size_t)(k > 0 ? k : 1) * (size_t)stride + 16; \
        T *col = calloc(n_buf, sizeof(T));                                                         \
        A *wide = direct ? malloc((size_t)mg * (size_t)stride * sizeof(A)) : NULL;                 \
        long n_idx = goff[s->m] > 0 ? start[goff[s->m]] : 0;                                       \
        long *at = malloc((size_t)(n_idx > 0 ? n_idx : 1) * sizeof(long));                         \
        if (!col || !at || (direct && !wide)) {                                                    \
            free(col);                                                                             \
            free(wide);                                                                            \
            free(at);                                                                              \
            return -1;                                                                             \
        }                                                                                          \
        for (long e = 0; e < n_idx; e++) { /* where each weight's row starts: no multiply per add */ \
            long r = idx[e], ch = r / ((long)s->kh * s->kw), i = r / s->kw % s->kh, j = r % s->kw; \
            at[e] = direct ? ch * hp * wp + i * s->dh * wp + j * s->dw : r * stride;               \
        }                                                                                          \
        const T *x_end = x + (long)s->n * s->c * s->h * s->w;                                      \
        for (int n = 0; n < s->n; n++)                                                             \
            for (int g = 0; g < s->groups; g++) {                                                  \
                const T *xg = x + ((long)n * s->c + (long)g * cg) * s->h * s->w;                  \
                if (direct)                                                                        \
                    NAME##_pad(s, xg, col, wp, hp);                                                \
                else                                                                               \
                    NAME##_im2col(s, xg, x_end, col, stride);                                      \
                for (long p0 = 0; p0 < span; p0 += TILE) {                                         \
                    long count = span - p0 < TILE ? span - p0 : TILE;                              \
                    const T *base = col + p0;                                                      \
                    for (int mm = 0; mm < mg; mm++) {                                              \
                        int m = g * mg + mm;                                                       \
                        NAME##_uacc acc[NV * R]; /* unsigned: sums wrap, never overflow */          \
                        for (int v = 0; v < NV * R; v++) acc[v] = (NAME##_uacc){0};                \
                        for (int32_t j = goff[m]; j < goff[m + 1]; j++) {                          \
                            NAME##_part part[NV];                                                  \
                            for (int v = 0; v < NV; v++) part[v] = (NAME##_part){0};               \
                            _Pragma("GCC unroll 4")                                                \
                            for (int32_t e = start[j]; e < mid[j]; e++) {                          \
                                const NAME##_part *r = (const NAME##_part *)(base + at[e]);        \
                                for (int v = 0; v < NV; v++) part[v] += r[v];                      \
                            }                                                                      \
                            _Pragma("GCC unroll 4")                                                \
                            for (int32_t e = mid[j]; e < start[j + 1]; e++) {                      \
                                const NAME##_part *r = (const NAME##_part *)(base + at[e]);        \
                                for (int v = 0; v < NV; v++) part[v] -= r[v];                      \
                            }                                                                      \
                            int sft = shift[j];                                                    \
                            for (int v = 0; v < NV; v++)                                           \
                                for (int q = 0; q < R; q++) {                                      \
                                    NAME##_slice sl;                                               \
                                    memcpy(&sl, (const char *)&part[v] + q * sizeof sl, sizeof sl); \
                                    NAME##_uacc w = (NAME##_uacc)__builtin_convertvector(sl, NAME##_acc); \
                                    acc[v * R + q] += w << sft;                                    \
                                }                                                                  \
                        }                                                                          \
                        A *dst = direct ? wide + (long)mm * stride + p0 : out + ((long)n * s->m + m) * p_count + p0; \
                        memcpy(dst, acc, (size_t)count * sizeof(A));                               \
                    }                                                                              \
                }                                                                                  \
                if (direct) /* the ow first of each wp positions */                                \
                    for (int mm = 0; mm < mg; mm++)                                                \
                        for (int oy = 0; oy < s->oh; oy++)                                         \
                            memcpy(out + (((long)n * s->m + g * mg + mm) * s->oh + oy) * s->ow,    \
                                   wide + (long)mm * stride + oy * wp, (size_t)s->ow * sizeof(A));  \
            }                                                                                      \
        free(wide);                                                                                \
        free(col);                                                                                 \
        free(at);                                                                                  \
        return 0;                                                                                  \
    }

#define DEFINE_ALL(SUFFIX, VEC, NV, TARGET)                                                       \
    DEFINE_CONV(i16_##SUFFIX, int16_t, uint16_t, int32_t, uint32_t, VEC, NV, TARGET)              \
    DEFINE_CONV(i32_##SUFFIX, int32_t, uint32_t, int32_t, uint32_t, VEC, NV, TARGET)              \
    DEFINE_CONV(i64_##SUFFIX, int64_t, uint64_t, int64_t, uint64_t, VEC, NV, TARGET)

DEFINE_ALL(base, 16, NV_BASE, )
#ifdef X86
DEFINE_ALL(avx2, 32, NV_AVX2, TARGET_AVX2)
DEFINE_ALL(avx512, 64, NV_AVX512, TARGET_AVX512)
#endif

/* The entry points run the widest instruction set this CPU has, or a narrower one that
   inq_shift_conv_isa chose (0 base, 1 AVX2, 2 AVX-512; -1 the widest); it returns the one
   in use. Every set computes the same integers. */
static int isa = -1;

int inq_shift_conv_isa(int want) {
    isa = inq_choose_isa(want);
    return isa;
}

#ifdef X86
#define ENTRY(T, A)                                                                                \
    int inq_shift_conv_##T(const conv_shape_t *s, const T##_t *x, const int32_t *goff, const int32_t *start, \
                           const int32_t *mid, const int32_t *shift, const int32_t *idx, A *out) { \
        if (isa < 0) inq_shift_conv_isa(-1);                                                       \
        if (isa == 2) return T##_avx512(s, x, goff, start, mid, shift, idx, out);                  \
        if (isa == 1) return T##_avx2(s, x, goff, start, mid, shift, idx, out);                    \
        return T##_base(s, x, goff, start, mid, shift, idx, out);                                  \
    }
#else
#define ENTRY(T, A)                                                                                \
    int inq_shift_conv_##T(const conv_shape_t *s, const T##_t *x, const int32_t *goff, const int32_t *start, \
                           const int32_t *mid, const int32_t *shift, const int32_t *idx, A *out) { \
        return T##_base(s, x, goff, start, mid, shift, idx, out);                                  \
    }
#endif

typedef int16_t i16_t;
typedef int32_t i32_t;
typedef int64_t i64_t;
ENTRY(i16, int32_t)
ENTRY(i32, int32_t)
ENTRY(i64, int64_t)
