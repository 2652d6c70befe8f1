#pragma once
// Kernel code (the rules' elementwise loops and the multi-tensor driver) lives in
// `namespace fastoptim::FASTOPTIM_TIER`. cpp/src/kernels.cpp is compiled once per SIMD tier with
// -DFASTOPTIM_TIER=<tier> and that tier's -march flags, so every copy has its own symbols: an inline
// function compiled with different -m flags in two translation units would otherwise be merged by
// the linker, and an AVX-512 copy could run on a CPU without AVX-512.
// Translation units that only use the tier-independent parts (bindings, dispatch) see `generic`,
// from which nothing is ever instantiated.
#ifndef FASTOPTIM_TIER
#define FASTOPTIM_TIER generic
#endif

// For element functions called inside the rules' `omp simd` loops: a call left in the loop stops it
// vectorising (GCC once kept the stochastic-rounding store out of line, and Adam's step on
// bfloat16 parameters ran 5x slower).
#if defined(__GNUC__)
#define FASTOPTIM_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FASTOPTIM_ALWAYS_INLINE inline
#endif
