// Conditional adaptive codebook (CAC) embedding:
//   out[b, l, :] = E[idx[b, l], :] + tanh(a) * V (U[idx[b, l], :] * h[b, :])
// Forward kernels per backend. The backwards: CPU kernels (csrc/ops/cpu/, deterministic by construction) and,
// for every other backend, a composite of ATen ops (dense matmuls and index_put with accumulation).
#pragma once

#include <ATen/core/Tensor.h>

namespace realiisr {

void cac_check(const at::Tensor& idx, const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V,
               const at::Tensor& h, const at::Tensor& gate);
// The whole conditioned codebook [B, V, C] (same factors, every id): checks and the CPU kernel.
void cac_codebook_check(const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V, const at::Tensor& h,
                        const at::Tensor& gate);
at::Tensor cac_codebook_cpu(const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V, const at::Tensor& h,
                            const at::Tensor& gate);
at::Tensor cac_embedding_cpu(const at::Tensor& idx, const at::Tensor& codebook, const at::Tensor& U,
                             const at::Tensor& V, const at::Tensor& h, const at::Tensor& gate);

}  // namespace realiisr
