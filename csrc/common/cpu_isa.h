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

namespace realiisr::cpu {

inline bool has_avx2_fma() {
#if REALIISR_X86_DISPATCH
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
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

}  // namespace realiisr::cpu

#if REALIISR_X86_DISPATCH
#define REALIISR_LOOP __attribute__((always_inline))
#else
#define REALIISR_LOOP
#endif
