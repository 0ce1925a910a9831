// CAC embedding forward on CUDA: one thread per output element, the rank-r offset recomputed per element
// (r is small: 8 in the reference), on the current stream.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "ops/cac_embedding.h"

namespace realiisr {
namespace {

template <typename scalar_t, typename acc_t>
__global__ void cac_embedding_kernel(const int64_t* __restrict__ ids, const scalar_t* __restrict__ e,
                                     const scalar_t* __restrict__ u, const scalar_t* __restrict__ v,
                                     const scalar_t* __restrict__ h, const scalar_t* __restrict__ gate,
                                     scalar_t* __restrict__ out, int64_t total, int64_t L, int64_t C, int64_t r) {
  const acc_t g = tanh(static_cast<acc_t>(gate[0]));
  for (int64_t n = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; n < total; n += (int64_t)gridDim.x * blockDim.x) {
    const int64_t row = n / C, c = n % C, b = row / L, i = ids[row];
    acc_t offset = 0;
    for (int64_t k = 0; k < r; ++k)
      offset += static_cast<acc_t>(v[c * r + k]) * static_cast<acc_t>(u[i * r + k]) * static_cast<acc_t>(h[b * r + k]);
    out[n] = static_cast<scalar_t>(static_cast<acc_t>(e[i * C + c]) + g * offset);
  }
}

at::Tensor cac_embedding_cuda(const at::Tensor& idx_in, const at::Tensor& codebook_in, const at::Tensor& U_in,
                              const at::Tensor& V_in, const at::Tensor& h_in, const at::Tensor& gate_in) {
  cac_check(idx_in, codebook_in, U_in, V_in, h_in, gate_in);
  const c10::cuda::CUDAGuard guard(codebook_in.device());
  const at::Tensor idx = idx_in.contiguous(), E = codebook_in.contiguous(), U = U_in.contiguous();
  const at::Tensor V = V_in.contiguous(), h = h_in.contiguous(), gate = gate_in.contiguous();
  const int64_t B = idx.size(0), L = idx.size(1), C = E.size(1), r = U.size(1);
  at::Tensor out = at::empty({B, L, C}, E.options());
  const int64_t total = out.numel();
  if (total == 0) return out;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, E.scalar_type(), "cac_embedding_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    cac_embedding_kernel<scalar_t, acc_t><<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
        idx.const_data_ptr<int64_t>(), E.const_data_ptr<scalar_t>(), U.const_data_ptr<scalar_t>(),
        V.const_data_ptr<scalar_t>(), h.const_data_ptr<scalar_t>(), gate.const_data_ptr<scalar_t>(),
        out.mutable_data_ptr<scalar_t>(), total, L, C, r);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(realiisr, CUDA, m) { m.impl("cac_embedding", &cac_embedding_cuda); }

}  // namespace realiisr
