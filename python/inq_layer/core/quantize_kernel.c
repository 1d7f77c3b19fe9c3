/* The blob passes of one INQ quantization (python/inq_layer/passes.py), over float32 bits.
 *
 * numpy needs 24 to 37 passes of the blob for one quantization; these loops make two:
 * a histogram of the candidates' values, and a pass that writes the levels and the frozen
 * mask of those above the bucket that holds the cut, listing the bucket's candidates
 * (passes.py chooses among them). A value is a magnitude, |w|'s bits, whose integer order
 * is the order of |w|; for the random partition it is a rank key, a keyed bijection of the
 * index. Masks are bytes (numpy bools) and may be NULL (none). Built by scripts/setup.sh;
 * passes.py falls back to numpy without it.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INQ_QUANTIZE_VERSION 2
#define HIST_SIZE (1u << 16) /* buckets: a magnitude's exponent and 8 mantissa bits, a key's top half */
#define SUB 4 /* sub-histograms: neighbours rarely hit one counter back to back */

int inq_quantize_version(void) { return INQ_QUANTIZE_VERSION; }

typedef const uint32_t *restrict bits_t; /* a blob's float32 bits */
typedef const uint8_t *restrict mask_t;
typedef const uint32_t *restrict key_t; /* the rank key's two words, or NULL: magnitudes */

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* An AVX2 build of each entry point beside the baseline one, picked at load time. */
#define CLONES __attribute__((target_clones("avx2", "default")))

/* cand = not prev and not held; the constant flags let the compiler drop absent masks. */
ALWAYS_INLINE uint32_t candidate(mask_t prev, mask_t held, size_t i, int hp, int hh) {
    uint32_t c = 1;
    if (hp) c &= (uint32_t)(prev[i] == 0);
    if (hh) c &= (uint32_t)(held[i] == 0);
    return c;
}

/* A bijection of 32-bit words with good avalanche (xorshift-multiply, two rounds). */
ALWAYS_INLINE uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

/* The random partition's rank key of index i (passes.rank_keys): distinct for distinct i,
 * so the m largest keys are m distinct weights, a fresh draw for every key pair. */
ALWAYS_INLINE uint32_t rank_key(uint32_t i, key_t key) { return mix32(mix32(i + key[0]) ^ key[1]); }

/* The value a weight is ranked by, and its bucket. */
ALWAYS_INLINE uint32_t value(bits_t bits, key_t key, size_t i, int hk) {
    return hk ? rank_key((uint32_t)i, key) : bits[i] & 0x7FFFFFFFu;
}
ALWAYS_INLINE uint32_t bucket_of(uint32_t v, int hk) { return v >> (hk ? 16 : 15); }

/* The half-octave key of a magnitude and its significand M (bits 0-23) with a count of
 * one (bit 40): |w| = M * 2^(max(E, 1) - 150). 2^14 of them sum without overflow. */
#define KEYS 512
ALWAYS_INLINE uint64_t counted_significand(uint32_t mag) {
    return (1ull << 40) | (mag & 0x7FFFFFu) | ((mag >> 23) ? 0x800000u : 0u);
}

ALWAYS_INLINE void flush_packed(uint64_t packed[SUB][KEYS], uint64_t *restrict count,
                                uint64_t *restrict sum) {
    for (int k = 0; k < KEYS; k++) {
        for (int j = 0; j < SUB; j++) {
            count[k] += packed[j][k] >> 40;
            sum[k] += packed[j][k] & ((1ull << 40) - 1);
            packed[j][k] = 0;
        }
    }
}

ALWAYS_INLINE void histogram_impl(bits_t bits, mask_t prev, mask_t held, key_t key, size_t n,
                                  uint64_t *restrict hist, uint64_t *restrict stats, uint64_t *restrict count,
                                  uint64_t *restrict sum, int hp, int hh, int hk, int hs) {
    enum { BLOCK = 4096, FLUSH = 1 << 16 }; /* FLUSH / SUB = 2^14 significands a word */
    /* 1 MB, but normal weights touch a few thousand counters: those stay in the L1 cache */
    uint32_t (*sub)[HIST_SIZE] = calloc(SUB, sizeof *sub);
    if (!sub) {
        stats[0] = UINT64_MAX; /* the caller falls back to numpy */
        return;
    }
    uint64_t packed[SUB][KEYS];
    if (hs) {
        memset(packed, 0, sizeof packed);
        memset(count, 0, KEYS * sizeof *count);
        memset(sum, 0, KEYS * sizeof *sum);
    }
    uint32_t max = 0, kb[BLOCK]; /* kb: a block's key buckets */
    uint64_t n_held = 0;
    for (size_t s = 0; s < n; s += BLOCK) {
        size_t e = n - s < BLOCK ? n : s + BLOCK;
        for (size_t i = s; i < e; i++) { /* vectorized; the scatter below is not */
            uint32_t mag = bits[i] & 0x7FFFFFFFu;
            max = mag > max ? mag : max;
            if (hh) n_held += held[i] != 0;
            if (hk) kb[i - s] = bucket_of(rank_key((uint32_t)i, key), 1);
        }
#define BUCKET(i) (hk ? kb[(i) - s] : bucket_of(bits[i] & 0x7FFFFFFFu, 0))
        size_t i = s;
        for (; i + SUB <= e; i += SUB) {
            for (int k = 0; k < SUB; k++) {
                uint32_t mag = bits[i + k] & 0x7FFFFFFFu;
                sub[k][BUCKET(i + k)] += candidate(prev, held, i + k, hp, hh);
                if (hs) packed[k][mag >> 22] += counted_significand(mag);
            }
        }
        for (; i < e; i++) {
            uint32_t mag = bits[i] & 0x7FFFFFFFu;
            sub[0][BUCKET(i)] += candidate(prev, held, i, hp, hh);
            if (hs) packed[0][mag >> 22] += counted_significand(mag);
        }
#undef BUCKET
        if (hs && (e % FLUSH == 0 || e == n)) flush_packed(packed, count, sum);
    }
    uint64_t n_cand = 0;
    for (uint32_t b = 0; b < HIST_SIZE; b++) {
        uint64_t c = 0;
        for (int k = 0; k < SUB; k++) c += sub[k][b];
        hist[b] = c;
        n_cand += c;
    }
    free(sub);
    stats[0] = max;
    stats[1] = n_held;
    stats[2] = n_cand;
}

/* The compiled variants of an _impl, one per combination of present masks and options
 * (flag bits in order), so that each inner loop has no test of an absent one. */
#define CASE3(f, c, ...) case c: f(__VA_ARGS__, (c) & 1, (c) >> 1 & 1, (c) >> 2 & 1); break
#define CASE4(f, c, ...) case c: f(__VA_ARGS__, (c) & 1, (c) >> 1 & 1, (c) >> 2 & 1, (c) >> 3 & 1); break

/* Pass 1: hist[bucket] counts the candidates by value (magnitudes, or with key the rank
 * keys); stats = {max magnitude of all, held, candidates}; with count and sum (else NULL),
 * the mse rule's half-octave sums of all weights (per mag >> 22: how many, and the sum of
 * M). n must be below 2^32. */
CLONES void inq_histogram(bits_t bits, mask_t prev, mask_t held, key_t key, size_t n, uint64_t *restrict hist,
                          uint64_t *restrict stats, uint64_t *restrict count, uint64_t *restrict sum) {
    switch ((prev != NULL) | (held != NULL) << 1 | (key != NULL) << 2 | (count != NULL) << 3) {
#define H(c) CASE4(histogram_impl, c, bits, prev, held, key, n, hist, stats, count, sum)
        H(0); H(1); H(2); H(3); H(4); H(5); H(6); H(7); H(8); H(9); H(10); H(11); H(12); H(13); H(14);
        default: histogram_impl(bits, prev, held, key, n, hist, stats, count, sum, 1, 1, 1, 1); break;
#undef H
    }
}

/* Appends i to out when it is a candidate in the bucket: out has one spare slot, so the
 * store is unconditional and only the count moves. */
ALWAYS_INLINE size_t list_member(bits_t bits, mask_t prev, mask_t held, key_t key, size_t i, uint32_t bucket,
                                 uint32_t *restrict out, size_t k, int hp, int hh, int hk) {
    out[k] = (uint32_t)i;
    return k + (candidate(prev, held, i, hp, hh) & (uint32_t)(bucket_of(value(bits, key, i, hk), hk) == bucket));
}

/* Lists the candidates of [s, e) in the bucket after the k already in out. */
ALWAYS_INLINE size_t collect_impl(bits_t bits, mask_t prev, mask_t held, key_t key, size_t s, size_t e,
                                  uint32_t bucket, uint32_t *restrict out, size_t k, int hp, int hh, int hk) {
    enum { GROUP = 64 }; /* a bucket holds few weights: most groups have none and are skipped */
    size_t i = s;
    for (; i + GROUP <= e; i += GROUP) {
        uint32_t hits = 0;
        for (int j = 0; j < GROUP; j++) hits += bucket_of(value(bits, key, i + j, hk), hk) == bucket;
        if (hits)
            for (int j = 0; j < GROUP; j++) k = list_member(bits, prev, held, key, i + j, bucket, out, k, hp, hh, hk);
    }
    for (; i < e; i++) k = list_member(bits, prev, held, key, i, bucket, out, k, hp, hh, hk);
    return k;
}

/* The indices of the candidates in one bucket (by magnitude, or with key by rank key),
 * ascending, into out (their count + 1 long). Returns how many. */
CLONES size_t inq_collect(bits_t bits, mask_t prev, mask_t held, key_t key, size_t n, uint32_t bucket,
                          uint32_t *restrict out) {
    switch ((prev != NULL) | (held != NULL) << 1 | (key != NULL) << 2) {
#define C(c) CASE3(return collect_impl, c, bits, prev, held, key, 0, n, bucket, out, 0)
        C(0); C(1); C(2); C(3); C(4); C(5); C(6);
        default: return collect_impl(bits, prev, held, key, 0, n, bucket, out, 0, 1, 1, 1);
#undef C
    }
}

/* blob.cpp's level scan in double precision, as levels._nearest_level_exact computes it:
 * the in-grid power nearest to |x| (the lower one on a tie) competes with the scan's start
 * (distance `start`, result +1.0) and with 0. Without the start value |x| is clipped first. */
static uint32_t level_exact(uint32_t xbits, int n1, int n2, int original) {
    float xf;
    memcpy(&xf, &xbits, 4);
    double x = xf, a = fabs(x);
    double start = original ? 100.0 : INFINITY;
    if (!original) a = fmin(a, ldexp(1.0, n1));
    int ex;
    frexp(a, &ex);
    int e = ex - 1;
    int elo = e < n2 ? n2 : (e > n1 ? n1 : e);
    int ehi = e + 1 < n2 ? n2 : (e + 1 > n1 ? n1 : e + 1);
    double clo = ldexp(1.0, elo), chi = ldexp(1.0, ehi);
    double dlo = fabs(a - clo), dhi = fabs(a - chi);
    double cp = dhi < dlo ? chi : clo, dp = dhi < dlo ? dhi : dlo;
    double res = 1.0, best = start;
    if (a < best) {
        res = 0.0;
        best = a;
    }
    if (dp < best) res = copysign(cp, x);
    float r = (float)res;
    uint32_t rb;
    memcpy(&rb, &r, 4);
    return rb;
}

typedef struct {
    int32_t n1, n2;
    int32_t original; /* blob.cpp's start value: |w| >= special go through level_exact */
    int32_t exact;    /* a grid in the subnormal range: every level through level_exact */
    uint32_t lo, hi;  /* bits of 2^n2 and 2^n1 */
    uint32_t zero;    /* bits of 2^(n2-1): at or below it, 0 */
    uint32_t special; /* 0xFFFFFFFF: none */
} grid_t;

/* The nearest level by bits: adding 0x3FFFFF carries into the exponent exactly when the
 * mantissa is above 1.5 (a midpoint keeps the lower power, as the scan does). The exact
 * cases (g->special and above, or an exact grid) are fixed afterwards. */
ALWAYS_INLINE uint32_t level_bits(uint32_t b, const grid_t *g) {
    uint32_t mag = b & 0x7FFFFFFFu;
    uint32_t q = (mag + 0x3FFFFFu) & 0xFF800000u;
    q = q < g->lo ? g->lo : q;
    q = q > g->hi ? g->hi : q;
    q |= b & 0x80000000u;
    return q & (uint32_t)-(int32_t)(mag > g->zero);
}

/* One block: chosen are the candidates whose bucket is at or above `cut`; the others in
 * bucket cut - 1 are listed in members (its count + 1 long). Branch-free and vectorized;
 * the rare block that holds some of bucket cut - 1 is read once more to list them.
 * Returns whether a chosen weight needs the exact path. */
ALWAYS_INLINE uint32_t write_block(bits_t bits, mask_t prev, mask_t held, key_t key, size_t s, size_t e,
                                   uint32_t cut, const grid_t *g, uint32_t *restrict out,
                                   uint8_t *restrict frozen, uint32_t *restrict members, size_t *k,
                                   int hp, int hh, int hk) {
    uint32_t special = 0, inside = 0;
    for (size_t i = s; i < e; i++) {
        uint32_t b = bits[i], mag = b & 0x7FFFFFFFu;
        uint32_t c = candidate(prev, held, i, hp, hh);
        uint32_t v = bucket_of(value(bits, key, i, hk), hk);
        uint32_t chosen = c & (uint32_t)(v >= cut);
        uint32_t h = hh ? (uint32_t)(held[i] != 0) : 0;
        uint32_t keep = b & (h - 1u); /* held weights read 0 */
        uint32_t sel = (uint32_t)0 - chosen;
        out[i] = (level_bits(b, g) & sel) | (keep & ~sel);
        frozen[i] = (uint8_t)(chosen | (c ^ 1u));
        special |= chosen & (uint32_t)(mag >= g->special);
        inside += c & (uint32_t)(v + 1 == cut);
    }
    if (inside) *k = collect_impl(bits, prev, held, key, s, e, cut - 1, members, *k, hp, hh, hk);
    return special;
}

ALWAYS_INLINE size_t write_impl(bits_t bits, mask_t prev, mask_t held, key_t key, size_t n, uint32_t cut,
                                const grid_t *g, uint32_t *restrict out, uint8_t *restrict frozen,
                                uint32_t *restrict members, int hp, int hh, int hk) {
    enum { BLOCK = 4096 };
    size_t k = 0;
    for (size_t s = 0; s < n; s += BLOCK) {
        size_t e = n - s < BLOCK ? n : s + BLOCK;
        uint32_t special = write_block(bits, prev, held, key, s, e, cut, g, out, frozen, members, &k, hp, hh, hk);
        if (g->exact || special) { /* the scan's quirks, done exactly */
            for (size_t i = s; i < e; i++) {
                uint32_t mag = bits[i] & 0x7FFFFFFFu;
                if ((g->exact || mag >= g->special) && frozen[i] && candidate(prev, held, i, hp, hh))
                    out[i] = level_exact(bits[i], g->n1, g->n2, g->original);
            }
        }
    }
    return k;
}

/* Pass 2: out takes the level of each chosen candidate and w elsewhere (0 where held);
 * frozen = chosen or prev or held. Chosen: the candidates in buckets from `cut` up (by
 * magnitude, or with key by rank key); those of bucket cut - 1 are listed in members,
 * ascending, left float for passes.py to choose from. cut = 0: all chosen; HIST_SIZE + 1:
 * none chosen, none listed. Returns how many are listed. */
CLONES size_t inq_write(bits_t bits, mask_t prev, mask_t held, key_t key, size_t n, uint32_t cut,
                        const grid_t *g, uint32_t *restrict out, uint8_t *restrict frozen,
                        uint32_t *restrict members) {
    switch ((prev != NULL) | (held != NULL) << 1 | (key != NULL) << 2) {
#define W(c) CASE3(return write_impl, c, bits, prev, held, key, n, cut, g, out, frozen, members)
        W(0); W(1); W(2); W(3); W(4); W(5); W(6);
        default: return write_impl(bits, prev, held, key, n, cut, g, out, frozen, members, 1, 1, 1);
#undef W
    }
}

/* The freezer's codes of a quantized blob: the upper half of a frozen value's bits, 0xFFFF
 * where still float. Returns how many frozen values have a non-zero lower half (those
 * below 2^-133, which a code cannot hold). */
CLONES size_t inq_encode(bits_t bits, mask_t frozen, size_t n, uint16_t *restrict codes) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t f = frozen[i] != 0, b = bits[i];
        bad += f & (uint32_t)((b & 0xFFFFu) != 0);
        codes[i] = f ? (uint16_t)(b >> 16) : (uint16_t)0xFFFFu;
    }
    return bad;
}

