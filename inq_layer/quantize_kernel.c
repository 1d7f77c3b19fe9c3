/* The blob passes of one INQ quantization (inq_layer/passes.py), over float32 bits.
 *
 * numpy needs 30 to 50 passes of the blob for one quantization; these loops make three:
 * a histogram of the candidates' magnitudes, a collection of the one bucket that holds
 * the cut, and a pass that writes the levels and the frozen mask. A magnitude is |w|'s
 * bits, whose integer order is the order of |w|. Masks are bytes (numpy bools) and may be
 * NULL (none). Built by scripts/setup.sh; passes.py falls back to numpy without it.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INQ_QUANTIZE_VERSION 1
#define HIST_SHIFT 15 /* 65536 buckets: the exponent and 8 mantissa bits */
#define HIST_SIZE (1u << (31 - HIST_SHIFT))
#define SUB 4 /* sub-histograms: neighbours rarely hit one counter back to back */

int inq_quantize_version(void) { return INQ_QUANTIZE_VERSION; }

typedef const uint32_t *restrict bits_t; /* a blob's float32 bits */
typedef const uint8_t *restrict mask_t;

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

ALWAYS_INLINE void histogram_impl(bits_t bits, mask_t prev, mask_t held, size_t n, uint64_t *restrict hist,
                                  uint64_t *restrict stats, uint64_t *restrict count, uint64_t *restrict sum,
                                  int hp, int hh, int hs) {
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
    uint32_t max = 0;
    uint64_t n_held = 0;
    for (size_t s = 0; s < n; s += BLOCK) {
        size_t e = n - s < BLOCK ? n : s + BLOCK;
        for (size_t i = s; i < e; i++) { /* vectorized; the scatter below is not */
            uint32_t mag = bits[i] & 0x7FFFFFFFu;
            max = mag > max ? mag : max;
            if (hh) n_held += held[i] != 0;
        }
        size_t i = s;
        for (; i + SUB <= e; i += SUB) {
            for (int k = 0; k < SUB; k++) {
                uint32_t mag = bits[i + k] & 0x7FFFFFFFu;
                sub[k][mag >> HIST_SHIFT] += candidate(prev, held, i + k, hp, hh);
                if (hs) packed[k][mag >> 22] += counted_significand(mag);
            }
        }
        for (; i < e; i++) {
            uint32_t mag = bits[i] & 0x7FFFFFFFu;
            sub[0][mag >> HIST_SHIFT] += candidate(prev, held, i, hp, hh);
            if (hs) packed[0][mag >> 22] += counted_significand(mag);
        }
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

/* Pass 1: hist[mag >> 15] counts the candidates; stats = {max magnitude of all, held,
 * candidates}; with count and sum (else NULL), the mse rule's half-octave sums of all
 * weights (per key = mag >> 22: how many, and the sum of M). n must be below 2^32. */
CLONES void inq_histogram(bits_t bits, mask_t prev, mask_t held, size_t n, uint64_t *restrict hist,
                          uint64_t *restrict stats, uint64_t *restrict count, uint64_t *restrict sum) {
    int hs = count != NULL;
    switch ((prev != NULL) | (held != NULL) << 1 | hs << 2) {
    case 0: histogram_impl(bits, prev, held, n, hist, stats, count, sum, 0, 0, 0); break;
    case 1: histogram_impl(bits, prev, held, n, hist, stats, count, sum, 1, 0, 0); break;
    case 2: histogram_impl(bits, prev, held, n, hist, stats, count, sum, 0, 1, 0); break;
    case 3: histogram_impl(bits, prev, held, n, hist, stats, count, sum, 1, 1, 0); break;
    case 4: histogram_impl(bits, prev, held, n, hist, stats, count, sum, 0, 0, 1); break;
    case 5: histogram_impl(bits, prev, held, n, hist, stats, count, sum, 1, 0, 1); break;
    case 6: histogram_impl(bits, prev, held, n, hist, stats, count, sum, 0, 1, 1); break;
    default: histogram_impl(bits, prev, held, n, hist, stats, count, sum, 1, 1, 1); break;
    }
}

ALWAYS_INLINE uint32_t in_bucket(bits_t bits, mask_t prev, mask_t held, size_t i, uint32_t bucket, int hp,
                                 int hh) {
    return candidate(prev, held, i, hp, hh) & (uint32_t)(((bits[i] & 0x7FFFFFFFu) >> HIST_SHIFT) == bucket);
}

ALWAYS_INLINE size_t collect_impl(bits_t bits, mask_t prev, mask_t held, size_t n, uint32_t bucket,
                                  uint32_t *restrict out, int hp, int hh) {
    enum { GROUP = 64 }; /* a bucket holds few weights: most groups have none and are skipped */
    size_t k = 0, i = 0;
    for (; i + GROUP <= n; i += GROUP) {
        uint32_t hits = 0;
        for (int j = 0; j < GROUP; j++) hits += ((bits[i + j] & 0x7FFFFFFFu) >> HIST_SHIFT) == bucket;
        if (hits) {
            for (int j = 0; j < GROUP; j++) {
                out[k] = bits[i + j] & 0x7FFFFFFFu; /* branch-free append: out has one spare slot */
                k += in_bucket(bits, prev, held, i + j, bucket, hp, hh);
            }
        }
    }
    for (; i < n; i++) {
        out[k] = bits[i] & 0x7FFFFFFFu;
        k += in_bucket(bits, prev, held, i, bucket, hp, hh);
    }
    return k;
}

/* Pass 2: the magnitudes of the candidates in one bucket, into out (its count + 1 long). */
CLONES size_t inq_collect(bits_t bits, mask_t prev, mask_t held, size_t n, uint32_t bucket,
                          uint32_t *restrict out) {
    if (prev && held) return collect_impl(bits, prev, held, n, bucket, out, 1, 1);
    if (prev) return collect_impl(bits, prev, held, n, bucket, out, 1, 0);
    if (held) return collect_impl(bits, prev, held, n, bucket, out, 0, 1);
    return collect_impl(bits, prev, held, n, bucket, out, 0, 0);
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

/* One block with every tie taken (all = 1) or none (all = 0): branch-free, vectorizable. */
ALWAYS_INLINE uint32_t write_block(bits_t bits, mask_t prev, mask_t held, mask_t pick, size_t s, size_t e,
                                   uint32_t t, uint32_t all, const grid_t *g, uint32_t *restrict out,
                                   uint8_t *restrict frozen, int hp, int hh, int hk) {
    uint32_t special = 0; /* a chosen weight needs the exact path */
    for (size_t i = s; i < e; i++) {
        uint32_t b = bits[i], mag = b & 0x7FFFFFFFu;
        uint32_t c = candidate(prev, held, i, hp, hh);
        uint32_t chosen = hk ? c & (uint32_t)(pick[i] != 0)
                             : c & ((uint32_t)(mag > t) | ((uint32_t)(mag == t) & all));
        uint32_t h = hh ? (uint32_t)(held[i] != 0) : 0;
        uint32_t keep = b & (h - 1u); /* held weights read 0 */
        uint32_t sel = (uint32_t)0 - chosen;
        out[i] = (level_bits(b, g) & sel) | (keep & ~sel);
        frozen[i] = (uint8_t)(chosen | (c ^ 1u));
        special |= chosen & (uint32_t)(mag >= g->special);
    }
    return special;
}

ALWAYS_INLINE void write_impl(bits_t bits, mask_t prev, mask_t held, mask_t pick, size_t n, uint32_t t,
                              uint64_t ties, const grid_t *g, uint32_t *restrict out,
                              uint8_t *restrict frozen, int hp, int hh, int hk) {
    enum { BLOCK = 4096 };
    uint64_t taken = 0;
    for (size_t s = 0; s < n; s += BLOCK) {
        size_t e = n - s < BLOCK ? n : s + BLOCK;
        uint32_t special;
        if (hk || taken >= ties || ties == UINT64_MAX) { /* UINT64_MAX: every tie */
            uint32_t all = ties == UINT64_MAX;
            special = write_block(bits, prev, held, pick, s, e, t, all, g, out, frozen, hp, hh, hk);
        } else {
            uint64_t eq = 0;
            for (size_t i = s; i < e; i++)
                eq += candidate(prev, held, i, hp, hh) & (uint32_t)((bits[i] & 0x7FFFFFFFu) == t);
            if (taken + eq <= ties) {
                special = write_block(bits, prev, held, pick, s, e, t, 1, g, out, frozen, hp, hh, hk);
                taken += eq;
            } else { /* the block where the ties run out: the first ones in index order */
                special = write_block(bits, prev, held, pick, s, e, t, 0, g, out, frozen, hp, hh, hk);
                for (size_t i = s; i < e && taken < ties; i++) {
                    if (candidate(prev, held, i, hp, hh) && (bits[i] & 0x7FFFFFFFu) == t) {
                        out[i] = level_bits(bits[i], g);
                        frozen[i] = 1;
                        special |= (bits[i] & 0x7FFFFFFFu) >= g->special;
                        taken++;
                    }
                }
            }
        }
        if (g->exact || special) { /* the scan's quirks, done exactly */
            for (size_t i = s; i < e; i++) {
                uint32_t mag = bits[i] & 0x7FFFFFFFu;
                if ((g->exact || mag >= g->special) && frozen[i] && candidate(prev, held, i, hp, hh))
                    out[i] = level_exact(bits[i], g->n1, g->n2, g->original);
            }
        }
    }
}

/* Pass 3: out takes the level of each chosen candidate and w elsewhere (0 where held);
 * frozen = chosen or prev or held. Chosen: pick[i] when pick is given, else mag > t, and
 * the first `ties` candidates with mag == t in index order (all of them: UINT64_MAX). */
CLONES void inq_write(bits_t bits, mask_t prev, mask_t held, mask_t pick, size_t n, uint32_t t, uint64_t ties,
                      const grid_t *g, uint32_t *restrict out, uint8_t *restrict frozen) {
    int hp = prev != NULL, hh = held != NULL, hk = pick != NULL;
    switch (hp | hh << 1 | hk << 2) {
    case 0: write_impl(bits, prev, held, pick, n, t, ties, g, out, frozen, 0, 0, 0); break;
    case 1: write_impl(bits, prev, held, pick, n, t, ties, g, out, frozen, 1, 0, 0); break;
    case 2: write_impl(bits, prev, held, pick, n, t, ties, g, out, frozen, 0, 1, 0); break;
    case 3: write_impl(bits, prev, held, pick, n, t, ties, g, out, frozen, 1, 1, 0); break;
    case 4: write_impl(bits, prev, held, pick, n, t, ties, g, out, frozen, 0, 0, 1); break;
    case 5: write_impl(bits, prev, held, pick, n, t, ties, g, out, frozen, 1, 0, 1); break;
    case 6: write_impl(bits, prev, held, pick, n, t, ties, g, out, frozen, 0, 1, 1); break;
    default: write_impl(bits, prev, held, pick, n, t, ties, g, out, frozen, 1, 1, 1); break;
    }
}

/* The swaps of a Fisher-Yates shuffle from its tail: for k < count, idx[top - k] trades
 * places with idx[j[k]]. With j drawn by numpy (passes.choice_positions) the tail is the
 * sample numpy's Generator.choice would return, from a uint32 index instead of an int64 one. */
void inq_tail_swaps(uint32_t *restrict idx, const int64_t *restrict j, size_t count, uint64_t top) {
    for (size_t k = 0; k < count; k++) {
        uint64_t i = top - k;
        uint32_t t = idx[i];
        idx[i] = idx[j[k]];
        idx[j[k]] = t;
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


/* The random partition's mask: pick[i] = 1 for the candidates whose rank among the
 * candidates (index order) is one of the k positions drawn (passes.random_pick). hit is
 * scratch of pop + 1 zeroed bytes, pop the number of candidates. */
CLONES void inq_pick_ranks(mask_t prev, mask_t held, size_t n, const uint32_t *restrict pos, size_t k,
                           uint8_t *restrict hit, uint8_t *restrict pick) {
    for (size_t j = 0; j < k; j++) hit[pos[j]] = 1;
    int hp = prev != NULL, hh = held != NULL;
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = candidate(prev, held, i, hp, hh); /* the flags vary: one loop serves all */
        pick[i] = (uint8_t)(c & hit[r]);
        r += c;
    }
}
