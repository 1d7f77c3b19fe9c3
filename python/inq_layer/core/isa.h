/* The instruction sets the engine's kernels are compiled for (each function body once per
   set, with that set's vector width), and the one a process runs: the widest this CPU has. */
#ifndef INQ_ISA_H
#define INQ_ISA_H

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define X86 1
#define TARGET_AVX2 __attribute__((target("avx2")))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#endif

/* 0 base, 1 AVX2, 2 AVX-512 (F, BW, DQ, VL): `want` when this CPU has it (and it is not
   negative), else the widest the CPU has. */
static inline int inq_choose_isa(int want) {
#ifdef X86
    __builtin_cpu_init();
    int best = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") ? 2
               : __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    int best = 0;
#endif
    return want >= 0 && want < best ? want : best;
}

#endif
