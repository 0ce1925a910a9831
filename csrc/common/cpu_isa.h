// Run-time choice of the instruction set for compute-bound CPU loops. The extension is built for the
// x86-64 baseline (it must run on any machine the wheel lands on), which leaves the small dense loops of the
// CAC kernels at SSE2 width; call_isa() runs the same source compiled for AVX2+FMA when the CPU has it.
#pragma once

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define REALIISR_X86_DISPATCH 1
#define REALIISR_INLINE __attribute__((always_inline)) inline
#else
#define REALIISR_X86_DISPATCH 0
#define REALIISR_INLINE inline
#endif

#include <cstdlib>
#include <cstring>

namespace realiisr::cpu {

// REALIISR_MAX_CPU_ISA=baseline|avx2 caps the choice below what the CPU offers, so that one machine can run
// the code paths of an older one (CI runs the suite that way beside ONEDNN_MAX_CPU_ISA and ATEN_CPU_CAPABILITY).
inline int max_isa_level() {
  static const int level = [] {
    const char* cap = std::getenv("REALIISR_MAX_CPU_ISA");
    if (cap == nullptr) return 2;
    if (std::strcmp(cap, "baseline") == 0) return 0;
    if (std::strcmp(cap, "avx2") == 0) return 1;
    return 2;
  }();
  return level;
}

inline bool has_avx2_fma() {
#if REALIISR_X86_DISPATCH
  static const bool ok = max_isa_level() >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
#else
  return false;
#endif
}

inline bool has_avx512() {
#if REALIISR_X86_DISPATCH
  static const bool ok = max_isa_level() >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return ok;
#else
  return false;
#endif
}

#if REALIISR_X86_DISPATCH
// `body` must be a lambda marked REALIISR_LOOP so that it (and the REALIISR_INLINE helpers it calls) is
// inlined here and compiled for this function's target.
template <typename Body>
__attribute__((target("avx2,fma"))) void call_avx2(const Body& body) {
  body();
}
#endif

template <typename Body>
void call_isa(const Body& body) {
#if REALIISR_X86_DISPATCH
  if (has_avx2_fma()) return call_avx2(body);
#endif
  body();
}

#if REALIISR_X86_DISPATCH
template <typename Body>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))) void call_avx512(const Body& body) {
  body();
}
#endif

// call_isa with an AVX-512 level first, for the streaming elementwise kernels whose compute (an exp and a
// division per value) otherwise outlasts their memory traffic. Kept apart from call_isa so that the CAC and
// TOC kernels, tuned and verified on AVX2, do not change.
template <typename Body>
void call_isa_wide(const Body& body) {
#if REALIISR_X86_DISPATCH
  if (has_avx512()) return call_avx512(body);
#endif
  call_isa(body);
}

}  // namespace realiisr::cpu

#if REALIISR_X86_DISPATCH
#define REALIISR_LOOP __attribute__((always_inline))
#else
#define REALIISR_LOOP
#endif
