// What the two CPU CAC backwards share around their loops: the in-order reduction of per-block partial sums
// (what keeps them deterministic) and the final gradients.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <tuple>

#include "ops/cac_embedding.h"

namespace realiisr {

// out[j] += scale * sum over blocks of parts[blk * n + j], blocks taken in order.
template <typename acc_t>
inline void sum_blocks_in_order(const acc_t* parts, int64_t blocks, int64_t n, acc_t scale, acc_t* out) {
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int64_t j = 0; j < n; ++j) out[j] += scale * parts[blk * n + j];
}

// The accumulated gradients in the codebook's dtype; da = (1 - g^2) * dot, shaped like the gate.
template <typename acc_t>
inline CacGrads cac_finish_grads(const at::Tensor& dE, const at::Tensor& dU, const at::Tensor& dV,
                                 const at::Tensor& dh, acc_t g, acc_t dot, const at::Tensor& gate,
                                 const at::Tensor& codebook) {
  const auto dtype = codebook.scalar_type();
  return {dE.to(dtype), dU.to(dtype), dV.to(dtype), dh.to(dtype),
          at::full(gate.sizes(), static_cast<double>((acc_t(1) - g * g) * dot), codebook.options())};
}

}  // namespace realiisr
