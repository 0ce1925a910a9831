// Per-row math shared by the CPU CAC kernels (per token and whole codebook), forward and backward, in acc_t.
// Everything here is REALIISR_INLINE so the callers' cpu::call_isa bodies compile it for the chosen ISA.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common/cpu_isa.h"

#if defined(__GNUC__) && !defined(__clang__)
// The lane helpers return vector types; they are always inlined, so the ABI note does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace realiisr {

// kLanes values held in registers (GCC/Clang vector extension: one ymm for float under AVX2, two xmm on the
// baseline). Plain arrays were kept on the stack by the compiler, a store-to-load chain per low-rank term.
constexpr int64_t kLanes = 8;
template <typename acc_t>
struct LanesOf;  // (an alias template would drop the attribute: GCC ignores it on dependent types)
template <>
struct LanesOf<float> {
  typedef float type __attribute__((vector_size(kLanes * sizeof(float))));
};
template <>
struct LanesOf<double> {
  typedef double type __attribute__((vector_size(kLanes * sizeof(double))));
};
template <typename acc_t>
using Lanes = typename LanesOf<acc_t>::type;

template <typename acc_t, typename scalar_t>
REALIISR_INLINE Lanes<acc_t> load_lanes(const scalar_t* p) {
  Lanes<acc_t> v;
  if constexpr (std::is_same_v<acc_t, scalar_t>) {
    std::memcpy(&v, p, sizeof v);
  } else {
    for (int64_t j = 0; j < kLanes; ++j) v[j] = static_cast<acc_t>(p[j]);
  }
  return v;
}

template <typename acc_t, typename scalar_t>
REALIISR_INLINE void store_lanes(scalar_t* p, const Lanes<acc_t>& v) {
  if constexpr (std::is_same_v<acc_t, scalar_t>) {
    std::memcpy(p, &v, sizeof v);
  } else {
    for (int64_t j = 0; j < kLanes; ++j) p[j] = static_cast<scalar_t>(v[j]);
  }
}

// Chunks [c0, c0 + kChunks * kLanes) of one output row: kChunks independent accumulators, so the r
// multiply-adds of one chunk do not wait on each other's latency (one accumulator was a serial chain).
template <int64_t kChunks, typename scalar_t, typename acc_t>
REALIISR_INLINE void cac_row_chunks(const scalar_t* __restrict e_row, const acc_t* __restrict uh,
                                    const acc_t* __restrict vt, int64_t r, int64_t C, int64_t c0,
                                    scalar_t* __restrict out_row) {
  Lanes<acc_t> acc[kChunks];
  for (int64_t j = 0; j < kChunks; ++j) acc[j] = load_lanes<acc_t>(e_row + c0 + j * kLanes);
  for (int64_t k = 0; k < r; ++k) {
    const acc_t w = uh[k];
    for (int64_t j = 0; j < kChunks; ++j) acc[j] += w * load_lanes<acc_t>(vt + k * C + c0 + j * kLanes);
  }
  for (int64_t j = 0; j < kChunks; ++j) store_lanes<acc_t>(out_row + c0 + j * kLanes, acc[j]);
}

// out_row = e_row + g * V (u_row * h_row), with vt = V^T [r, C] already in acc_t; uh is scratch of length r.
template <typename scalar_t, typename acc_t>
REALIISR_INLINE void cac_row(const scalar_t* __restrict e_row, const scalar_t* __restrict u_row,
                             const scalar_t* __restrict h_row, const acc_t* __restrict vt, acc_t g, int64_t r,
                             int64_t C, acc_t* __restrict uh, scalar_t* __restrict out_row) {
  for (int64_t k = 0; k < r; ++k) uh[k] = g * static_cast<acc_t>(u_row[k]) * static_cast<acc_t>(h_row[k]);
  int64_t c0 = 0;
  for (; c0 + 4 * kLanes <= C; c0 += 4 * kLanes) cac_row_chunks<4>(e_row, uh, vt, r, C, c0, out_row);
  for (; c0 + kLanes <= C; c0 += kLanes) cac_row_chunks<1>(e_row, uh, vt, r, C, c0, out_row);
  for (; c0 < C; ++c0) {
    acc_t value = static_cast<acc_t>(e_row[c0]);
    for (int64_t k = 0; k < r; ++k) value += uh[k] * vt[k * C + c0];
    out_row[c0] = static_cast<scalar_t>(value);
  }
}

// The part of the backward that reads one gradient row (length C) against uh = U[v] * h[b] (length r):
// writes the row in acc_t to grow, t = G V (V is [C, r] in acc_t), adds G^T uh into dV_acc, and returns
// sum(t * uh) for the gate. No gate factors here.
template <typename scalar_t, typename acc_t>
REALIISR_INLINE acc_t cac_row_backward(const scalar_t* __restrict grad_row, const acc_t* __restrict uh,
                                       const acc_t* __restrict v, int64_t r, int64_t C, acc_t* __restrict grow,
                                       acc_t* __restrict t, acc_t* __restrict dV_acc) {
  for (int64_t c = 0; c < C; ++c) grow[c] = static_cast<acc_t>(grad_row[c]);
  int64_t k0 = 0;
  for (; k0 + kLanes <= r; k0 += kLanes) {
    // Four partial sums over c (c mod 4) break the multiply-add latency chain along C.
    Lanes<acc_t> lane[4] = {};
    const Lanes<acc_t> uh_lanes = load_lanes<acc_t>(uh + k0);
    for (int64_t c = 0; c < C; ++c) {
      const acc_t gc = grow[c];
      lane[c & 3] += gc * load_lanes<acc_t>(v + c * r + k0);
      store_lanes<acc_t>(dV_acc + c * r + k0, load_lanes<acc_t>(dV_acc + c * r + k0) + gc * uh_lanes);
    }
    store_lanes<acc_t>(t + k0, (lane[0] + lane[1]) + (lane[2] + lane[3]));
  }
  for (; k0 < r; ++k0) {
    acc_t sum = 0;
    for (int64_t c = 0; c < C; ++c) {
      sum += grow[c] * v[c * r + k0];
      dV_acc[c * r + k0] += grow[c] * uh[k0];
    }
    t[k0] = sum;
  }
  acc_t dot = 0;
  for (int64_t k = 0; k < r; ++k) dot += t[k] * uh[k];
  return dot;
}

// acc[0..n) += x[0..n), in lanes.
template <typename scalar_t, typename acc_t>
REALIISR_INLINE void add_row(acc_t* __restrict acc, const scalar_t* __restrict x, int64_t n) {
  int64_t c0 = 0;
  for (; c0 + kLanes <= n; c0 += kLanes) store_lanes<acc_t>(acc + c0, load_lanes<acc_t>(acc + c0) + load_lanes<acc_t>(x + c0));
  for (; c0 < n; ++c0) acc[c0] += static_cast<acc_t>(x[c0]);
}

}  // namespace realiisr
