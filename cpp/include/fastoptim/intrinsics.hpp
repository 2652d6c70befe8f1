#pragma once
// x86 intrinsics, for the kernels that use them in AVX-512 tiers.
#if defined(__AVX512F__)
// GCC 12's intrinsics start from a self-initialised "undefined" vector, which -Wmaybe-uninitialized
// and -Wuninitialized report once they are inlined (a false positive, GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#endif
