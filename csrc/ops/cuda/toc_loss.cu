// TOC loss on CUDA. Pooling: one block per patch row, coalesced column sums in shared memory, then a
// per-patch sum (no atomics, so results are bitwise reproducible). Per-patch loss and gradient use the
// shared math of ops/toc_loss.h; the image gradient is one grid-stride broadcast.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "ops/toc_loss.h"

namespace realiisr {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kTileCols = 2048;

inline int64_t blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return blocks < 1 ? 1 : (blocks > 65535 ? 65535 : blocks);
}

// grid.x = B * Hp; pools patch row (b, py) of both images into s_out / t_out.
template <typename scalar_t, typename acc_t>
__global__ void pool_rows_kernel(const scalar_t* __restrict__ sr, const scalar_t* __restrict__ hr,
                                 acc_t* __restrict__ s_out, acc_t* __restrict__ t_out, int64_t C, int64_t H,
                                 int64_t W, int64_t p, int64_t Hp, int64_t Wp, int64_t tile, acc_t scale) {
  extern __shared__ unsigned char smem_raw[];
  acc_t* s_cols = reinterpret_cast<acc_t*>(smem_raw);
  acc_t* t_cols = s_cols + tile;
  const int64_t row_id = blockIdx.x;
  const int64_t b = row_id / Hp, py = row_id % Hp;
  const scalar_t* s_img = sr + b * C * H * W;
  const scalar_t* t_img = hr + b * C * H * W;
  const int64_t used_cols = Wp * p;
  for (int64_t start = 0; start < used_cols; start += tile) {
    const int64_t n = (used_cols - start) < tile ? (used_cols - start) : tile;
    for (int64_t x = threadIdx.x; x < n; x += blockDim.x) {
      acc_t s_acc = 0, t_acc = 0;
      for (int64_t c = 0; c < C; ++c) {
        const int64_t base = (c * H + py * p) * W + start + x;
        for (int64_t r = 0; r < p; ++r) {
          s_acc += static_cast<acc_t>(s_img[base + r * W]);
          t_acc += static_cast<acc_t>(t_img[base + r * W]);
        }
      }
      s_cols[x] = s_acc;
      t_cols[x] = t_acc;
    }
    __syncthreads();
    for (int64_t k = threadIdx.x; k < n / p; k += blockDim.x) {
      acc_t s_sum = 0, t_sum = 0;
      for (int64_t j = 0; j < p; ++j) {
        s_sum += s_cols[k * p + j];
        t_sum += t_cols[k * p + j];
      }
      const int64_t px = start / p + k;
      s_out[row_id * Wp + px] = s_sum * scale;
      t_out[row_id * Wp + px] = t_sum * scale;
    }
    __syncthreads();
  }
}

template <typename scalar_t, typename acc_t>
__global__ void patch_loss_kernel(const acc_t* __restrict__ s, const acc_t* __restrict__ t,
                                  scalar_t* __restrict__ loss, int64_t B, int64_t Hp, int64_t Wp, acc_t thr) {
  const int64_t total = B * Hp * Wp;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = i / (Hp * Wp), rem = i % (Hp * Wp);
    const int64_t off = b * Hp * Wp;
    loss[i] = static_cast<scalar_t>(toc::patch_loss(s + off, t + off, Hp, Wp, rem / Wp, rem % Wp, thr));
  }
}

template <typename acc_t>
__global__ void patch_grad_kernel(const acc_t* __restrict__ s, const acc_t* __restrict__ t,
                                  const acc_t* __restrict__ g, acc_t* __restrict__ grad_s, int64_t B, int64_t Hp,
                                  int64_t Wp, acc_t thr, acc_t scale) {
  const int64_t total = B * Hp * Wp;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t b = i / (Hp * Wp), rem = i % (Hp * Wp);
    const int64_t off = b * Hp * Wp;
    grad_s[i] = toc::patch_grad(s + off, t + off, g + off, Hp, Wp, rem / Wp, rem % Wp, thr) * scale;
  }
}

template <typename scalar_t, typename acc_t>
__global__ void broadcast_grad_kernel(const acc_t* __restrict__ grad_s, scalar_t* __restrict__ out, int64_t C,
                                      int64_t H, int64_t W, int64_t p, int64_t Hp, int64_t Wp, int64_t total) {
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t x = i % W, y = (i / W) % H, b = i / (C * H * W);
    const int64_t py = y / p, px = x / p;
    out[i] = (py < Hp && px < Wp) ? static_cast<scalar_t>(grad_s[(b * Hp + py) * Wp + px]) : scalar_t(0);
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> toc_loss_forward_cuda(const at::Tensor& sr_in, const at::Tensor& hr_in,
                                                                     int64_t p, double threshold) {
  auto [Hp, Wp] = toc_check_forward(sr_in, hr_in, p);
  const c10::cuda::CUDAGuard guard(sr_in.device());
  const at::Tensor sr = sr_in.contiguous(), hr = hr_in.contiguous();
  const int64_t B = sr.size(0), C = sr.size(1), H = sr.size(2), W = sr.size(3);
  at::Tensor loss_map = at::empty({B, 1, Hp, Wp}, sr.options());
  at::Tensor s_pool, t_pool;
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, sr.scalar_type(), "toc_loss_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto acc_options = sr.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
    s_pool = at::empty({B, Hp, Wp}, acc_options);
    t_pool = at::empty({B, Hp, Wp}, acc_options);
    const int64_t tile = p > kTileCols ? p : (kTileCols / p) * p;
    const size_t smem = 2 * tile * sizeof(acc_t);
    TORCH_CHECK(smem <= 48 * 1024, "realiisr::toc_loss: patch_size ", p, " is too large for the CUDA kernel");
    const acc_t scale = acc_t(1) / static_cast<acc_t>(C * p * p);
    pool_rows_kernel<scalar_t, acc_t><<<B * Hp, kThreads, smem, stream>>>(
        sr.const_data_ptr<scalar_t>(), hr.const_data_ptr<scalar_t>(), s_pool.mutable_data_ptr<acc_t>(),
        t_pool.mutable_data_ptr<acc_t>(), C, H, W, p, Hp, Wp, tile, scale);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    patch_loss_kernel<scalar_t, acc_t><<<blocks_for(B * Hp * Wp), kThreads, 0, stream>>>(
        s_pool.const_data_ptr<acc_t>(), t_pool.const_data_ptr<acc_t>(), loss_map.mutable_data_ptr<scalar_t>(), B,
        Hp, Wp, static_cast<acc_t>(threshold));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {loss_map, s_pool, t_pool};
}

at::Tensor toc_loss_backward_cuda(const at::Tensor& grad_map_in, const at::Tensor& s_pool_in,
                                  const at::Tensor& t_pool_in, int64_t p, double threshold,
                                  c10::IntArrayRef input_shape) {
  toc_check_backward(grad_map_in, s_pool_in, t_pool_in, p, input_shape);
  const c10::cuda::CUDAGuard guard(s_pool_in.device());
  const int64_t B = input_shape[0], C = input_shape[1], H = input_shape[2], W = input_shape[3];
  const int64_t Hp = H / p, Wp = W / p;
  const at::Tensor s_pool = s_pool_in.contiguous(), t_pool = t_pool_in.contiguous();
  const at::Tensor grad_map = grad_map_in.to(s_pool.scalar_type()).contiguous();
  at::Tensor grad = at::empty({B, C, H, W}, grad_map_in.options());
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, grad.scalar_type(), "toc_loss_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    TORCH_CHECK(s_pool.scalar_type() == c10::CppTypeToScalarType<acc_t>::value,
                "realiisr::toc_loss_backward: pooled maps must be ", c10::CppTypeToScalarType<acc_t>::value,
                " for a ", grad.scalar_type(), " gradient, got ", s_pool.scalar_type());
    at::Tensor grad_s = at::empty({B, Hp, Wp}, s_pool.options());
    patch_grad_kernel<acc_t><<<blocks_for(B * Hp * Wp), kThreads, 0, stream>>>(
        s_pool.const_data_ptr<acc_t>(), t_pool.const_data_ptr<acc_t>(), grad_map.const_data_ptr<acc_t>(),
        grad_s.mutable_data_ptr<acc_t>(), B, Hp, Wp, static_cast<acc_t>(threshold),
        acc_t(1) / static_cast<acc_t>(C * p * p));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const int64_t total = grad.numel();
    broadcast_grad_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
        grad_s.const_data_ptr<acc_t>(), grad.mutable_data_ptr<scalar_t>(), C, H, W, p, Hp, Wp, total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad;
}

}  // namespace

TORCH_LIBRARY_IMPL(realiisr, CUDA, m) {
  m.impl("toc_loss_forward", &toc_loss_forward_cuda);
  m.impl("toc_loss_backward", &toc_loss_backward_cuda);
}

}  // namespace realiisr
