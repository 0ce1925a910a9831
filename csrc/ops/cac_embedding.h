// Conditional adaptive codebook (CAC) embedding:
//   out[b, l, :] = E[idx[b, l], :] + tanh(a) * V (U[idx[b, l], :] * h[b, :])
// and the whole conditioned codebook [B, V, C] (every id). Kernels per backend, forward and backward, in
// csrc/ops/cpu/ and csrc/ops/cuda/ (both deterministic by construction); other backends, and shapes the CUDA
// kernels do not take, use the ATen composites of ops/cac_embedding.cpp.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <tuple>

#include "common/checks.h"

namespace realiisr {

using CacGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;  // dE, dU, dV, dh, da

// Shapes, dtypes and devices; with check_id_range, also that every id lies in [0, V) (one reduction and a
// host sync: the CUDA backward skips it, its kernels never read through an id they were not given).
void cac_check(const at::Tensor& idx, const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V,
               const at::Tensor& h, const at::Tensor& gate, bool check_id_range = true);
void cac_codebook_check(const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V, const at::Tensor& h,
                        const at::Tensor& gate);

at::Tensor cac_codebook_cpu(const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V, const at::Tensor& h,
                            const at::Tensor& gate);
at::Tensor cac_embedding_cpu(const at::Tensor& idx, const at::Tensor& codebook, const at::Tensor& U,
                             const at::Tensor& V, const at::Tensor& h, const at::Tensor& gate);

// The ATen composites (fallbacks for every backend without a kernel of its own).
CacGrads cac_embedding_backward_composite(const at::Tensor& grad, const at::Tensor& idx, const at::Tensor& codebook,
                                          const at::Tensor& U, const at::Tensor& V, const at::Tensor& h,
                                          const at::Tensor& gate);
CacGrads cac_codebook_backward_composite(const at::Tensor& grad, const at::Tensor& codebook, const at::Tensor& U,
                                         const at::Tensor& V, const at::Tensor& h, const at::Tensor& gate);

// grad [B, rows, C] on the codebook's device, in the codebook's dtype and contiguous; rows_name names dim 1.
inline at::Tensor cac_grad_rows(const at::Tensor& grad, const at::Tensor& codebook, int64_t B, int64_t rows,
                                const char* rows_name, const char* op) {
  const int64_t C = codebook.size(1);
  check_same_device(codebook, grad, op, "codebook", "grad");
  TORCH_CHECK(grad.dim() == 3 && grad.size(0) == B && grad.size(1) == rows && grad.size(2) == C, op,
              ": grad must be [B=", B, ", ", rows_name, "=", rows, ", C=", C, "], got ", grad.sizes());
  return grad.to(codebook.scalar_type()).contiguous();
}

}  // namespace realiisr
