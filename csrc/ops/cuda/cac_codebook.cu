// The whole conditioned codebook [B, V, C] on CUDA: the embedding's kernels with row l of batch b reading id l
// (cac_kernels.cuh), so forward and backward are one launch and three, deterministic.
#include <torch/library.h>

#include "ops/cac_embedding.h"
#include "ops/cuda/cac_kernels.cuh"

namespace realiisr {
namespace {

at::Tensor cac_codebook_cuda(const at::Tensor& codebook_in, const at::Tensor& U_in, const at::Tensor& V_in,
                             const at::Tensor& h_in, const at::Tensor& gate_in) {
  cac_codebook_check(codebook_in, U_in, V_in, h_in, gate_in);
  return cac_cuda::forward<true>(at::Tensor(), codebook_in, U_in, V_in, h_in, gate_in, codebook_in.size(0));
}

CacGrads cac_codebook_backward_cuda(const at::Tensor& grad, const at::Tensor& codebook, const at::Tensor& U,
                                    const at::Tensor& V, const at::Tensor& h, const at::Tensor& gate) {
  cac_codebook_check(codebook, U, V, h, gate);
  const int64_t B = h.size(0), vocab = codebook.size(0), C = codebook.size(1), r = U.size(1);
  const at::Tensor G = cac_grad_rows(grad, codebook, B, vocab, "V", "realiisr::cac_codebook_backward");
  if (!cac_cuda::backward_supported(codebook, C, r, B * vocab))
    return cac_codebook_backward_composite(G, codebook, U, V, h, gate);
  return cac_cuda::backward<true>(G, at::Tensor(), codebook, U, V, h, gate);
}

}  // namespace

TORCH_LIBRARY_IMPL(realiisr, CUDA, m) {
  m.impl("cac_codebook", &cac_codebook_cuda);
  m.impl("cac_codebook_backward", &cac_codebook_backward_cuda);
}

}  // namespace realiisr
