// CAC embedding on CUDA, on the current stream: the forward (one thread per output element, the rank-r offset
// recomputed per element: r is 8 in the reference) and the deterministic backward of cac_kernels.cuh.
#include <torch/library.h>

#include "ops/cac_embedding.h"
#include "ops/cuda/cac_kernels.cuh"

namespace realiisr {
namespace {

at::Tensor cac_embedding_cuda(const at::Tensor& idx_in, const at::Tensor& codebook_in, const at::Tensor& U_in,
                              const at::Tensor& V_in, const at::Tensor& h_in, const at::Tensor& gate_in) {
  cac_check(idx_in, codebook_in, U_in, V_in, h_in, gate_in);
  return cac_cuda::forward<false>(idx_in.contiguous(), codebook_in, U_in, V_in, h_in, gate_in, idx_in.size(1));
}

CacGrads cac_embedding_backward_cuda(const at::Tensor& grad, const at::Tensor& idx, const at::Tensor& codebook,
                                     const at::Tensor& U, const at::Tensor& V, const at::Tensor& h,
                                     const at::Tensor& gate) {
  cac_check(idx, codebook, U, V, h, gate, /*check_id_range=*/false);
  const int64_t B = idx.size(0), L = idx.size(1), C = codebook.size(1), r = U.size(1);
  const at::Tensor G = cac_grad_rows(grad, codebook, B, L, "L", "realiisr::cac_embedding_backward");
  if (!cac_cuda::backward_supported(codebook, C, r, B * L))
    return cac_embedding_backward_composite(G, idx, codebook, U, V, h, gate);
  return cac_cuda::backward<false>(G, idx.contiguous(), codebook, U, V, h, gate);
}

}  // namespace

TORCH_LIBRARY_IMPL(realiisr, CUDA, m) {
  m.impl("cac_embedding", &cac_embedding_cuda);
  m.impl("cac_embedding_backward", &cac_embedding_backward_cuda);
}

}  // namespace realiisr
