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
  const c10::cuda::CUDAGuard guard(codebook_in.device());
  const at::Tensor E = codebook_in.contiguous(), U = U_in.contiguous(), V = V_in.contiguous();
  const at::Tensor h = h_in.contiguous(), gate = gate_in.contiguous();
  const int64_t B = h.size(0), vocab = E.size(0), C = E.size(1), r = U.size(1);
  at::Tensor out = at::empty({B, vocab, C}, E.options());
  const int64_t total = out.numel();
  if (total == 0) return out;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, E.scalar_type(), "cac_codebook_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    cac_cuda::forward_kernel<scalar_t, acc_t, true><<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
        nullptr, E.const_data_ptr<scalar_t>(), U.const_data_ptr<scalar_t>(), V.const_data_ptr<scalar_t>(),
        h.const_data_ptr<scalar_t>(), gate.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), total,
        vocab, C, r);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
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
