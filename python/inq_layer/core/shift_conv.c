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
#include <stdlib.h>
#include <string.h>

#define INQ_SHIFT_CONV_VERSION 5

#ifdef CLONES /* given on the command line (benchmarks of one instruction set) */
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CLONES __attribute__((target_clones("arch=skylake-avx512", "avx2", "default")))
#else
#define CLONES
#endif

int inq_shift_conv_version(void) { return INQ_SHIFT_CONV_VERSION; }

typedef struct {
    int32_t n, c, h, w, groups, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, m;
} conv_shape_t;

/* A tile is TILE_BYTES of each patch row: TILE_BYTES / sizeof(T) output positions, L1-sized
   for the fan-ins of LeNet and ResNet convolutions. Partial sums and accumulators are
   GCC/Clang vectors of VEC bytes (a ymm register; two xmm without AVX2), in arrays whose
   loops unroll, so that they stay in registers across the weights. T: the activations and
   a group's partial sum (int16 where the engine proved every group's sum fits 16 bits:
   twice the lanes per add); A: the accumulators, R = sizeof(A) / sizeof(T) of them per
   partial vector. Loads may be unaligned (aligned(sizeof(T))). */
#define VEC 32
#define TILE_BYTES 64
#define DEFINE_CONV(NAME, T, UT, A, UA)                                                           \
    enum { NAME##_R = sizeof(A) / sizeof(T), NAME##_NV = TILE_BYTES / VEC,                        \
           NAME##_TILE = TILE_BYTES / sizeof(T) };                                                \
    typedef UT NAME##_part __attribute__((vector_size(VEC), aligned(sizeof(T))));                 \
    typedef T NAME##_slice __attribute__((vector_size(VEC / (sizeof(A) / sizeof(T)))));           \
    typedef A NAME##_acc __attribute__((vector_size(VEC)));                                       \
    typedef UA NAME##_uacc __attribute__((vector_size(VEC)));                                     \
                                                                                                   \
    static void NAME##_im2col(const conv_shape_t *s, const T *x, T *col, long stride) {             \
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
                            memset(r + p, 0, (size_t)s->ow * sizeof(T));                           \
                            p += s->ow;                                                            \
                            continue;                                                              \
                        }                                                                          \
                        const T *line = plane + (long)y * s->w;                                    \
                        for (int ox = 0; ox < s->ow; ox++, p++) {                                  \
                            int xx = ox * s->sw - s->pw + j * s->dw;                               \
                            r[p] = (xx >= 0 && xx < s->w) ? line[xx] : 0;                          \
                        }                                                                          \
                    }                                                                              \
                    for (; p < stride; p++) r[p] = 0;                                              \
                }                                                                                  \
    }                                                                                              \
                                                                                                   \
    CLONES int NAME(const conv_shape_t *s, const T *x, const int32_t *goff, const int32_t *start,  \
                    const int32_t *mid, const int32_t *shift, const int32_t *idx, A *out) {        \
        enum { TILE = NAME##_TILE, NV = NAME##_NV, R = NAME##_R };                                 \
        long p_count = (long)s->oh * s->ow;                                                        \
        long stride = (p_count + TILE - 1) / TILE * TILE;                                          \
        int cg = s->c / s->groups, mg = s->m / s->groups;                                          \
        long k = (long)cg * s->kh * s->kw;                                                         \
        T *col = malloc((size_t)(k > 0 ? k : 1) * (size_t)stride * sizeof(T));                    \
        long n_idx = goff[s->m] > 0 ? start[goff[s->m]] : 0;                                       \
        long *at = malloc((size_t)(n_idx > 0 ? n_idx : 1) * sizeof(long));                         \
        if (!col || !at) {                                                                         \
            free(col);                                                                             \
            free(at);                                                                              \
            return -1;                                                                             \
        }                                                                                          \
        for (long e = 0; e < n_idx; e++) at[e] = (long)idx[e] * stride; /* no multiply per add */  \
        for (int n = 0; n < s->n; n++)                                                             \
            for (int g = 0; g < s->groups; g++) {                                                  \
                NAME##_im2col(s, x + ((long)n * s->c + (long)g * cg) * s->h * s->w, col, stride);  \
                for (long p0 = 0; p0 < p_count; p0 += TILE) {                                      \
                    long count = p_count - p0 < TILE ? p_count - p0 : TILE;                        \
                    const T *base = col + p0;                                                      \
                    for (int mm = 0; mm < mg; mm++) {                                              \
                        int m = g * mg + mm;                                                       \
                        NAME##_acc acc[NV * R];                                                    \
                        for (int v = 0; v < NV * R; v++) acc[v] = (NAME##_acc){0};                 \
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
                                    acc[v * R + q] += (NAME##_acc)(w << sft);                      \
                                }                                                                  \
                        }                                                                          \
                        memcpy(out + ((long)n * s->m + m) * p_count + p0, acc, (size_t)count * sizeof(A)); \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        free(col);                                                                                 \
        free(at);                                                                                  \
        return 0;                                                                                  \
    }

DEFINE_CONV(inq_shift_conv_i16, int16_t, uint16_t, int32_t, uint32_t)
DEFINE_CONV(inq_shift_conv_i32, int32_t, uint32_t, int32_t, uint32_t)
DEFINE_CONV(inq_shift_conv_i64, int64_t, uint64_t, int64_t, uint64_t)
