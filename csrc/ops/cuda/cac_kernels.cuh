// CAC on CUDA, shared by the per-token embedding (ids from idx) and the whole codebook (kIdentity: row l of
// batch b is id l). Forward: one thread per output element. Backward, three launches, no atomics, every sum
// in a fixed order (bit-identical from run to run):
//   rows   one warp per gradient row (lanes over channels): T = G V by warp reductions, stored [N, r]; per
//          block of 16 rows of one batch the partial sums of dV, dh and the gate's dot, summed over warps in
//          warp order;
//   ids    one block per 32 ids (fewer for wide rows): dE[i] = sum of the G rows with id i, dU[i] = g sum
//          T * h[b] over them; warp w scans the w-th eighth of the ids with ballots and adds its matches, in
//          row order, to its own shared rows, which are then summed in warp order (the codebook form has
//          one row per id and batch: one thread per element of dE and dU sums over the batch);
//   finish one warp per element of dV, dh and da sums the row blocks' partials, lanes striding the blocks,
//          then a fixed shuffle tree.
// Ids outside [0, V) never index anything here (rows skips their U, ids never matches them); the forward
// refuses them before any kernel runs.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cstdint>

#include "ops/cac_embedding.h"

namespace realiisr::cac_cuda {

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
constexpr int64_t kRowsPerBlock = 16;  // fixed: the partial sums do not depend on the grid
constexpr int kMaxChunks = 8;          // channels per lane: C <= 256
constexpr int64_t kMaxRank = 32;       // one lane per rank component
constexpr int64_t kMaxIdsPerBlock = 32;
constexpr int kScanUnroll = 4;         // id loads in flight per lane in the ballot scan
constexpr size_t kMaxSharedBytes = 48 * 1024;

template <typename T>
__device__ __forceinline__ T warp_sum(T x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

template <typename scalar_t, typename acc_t, bool kIdentity>
__global__ void forward_kernel(const int64_t* __restrict__ ids, const scalar_t* __restrict__ e,
                               const scalar_t* __restrict__ u, const scalar_t* __restrict__ v,
                               const scalar_t* __restrict__ h, const scalar_t* __restrict__ gate,
                               scalar_t* __restrict__ out, int64_t total, int64_t L, int64_t C, int64_t r) {
  const acc_t g = tanh(static_cast<acc_t>(gate[0]));
  for (int64_t n = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; n < total; n += (int64_t)gridDim.x * blockDim.x) {
    const int64_t row = n / C, c = n % C, b = row / L, i = kIdentity ? row % L : ids[row];
    acc_t offset = 0;
    for (int64_t k = 0; k < r; ++k)
      offset += static_cast<acc_t>(v[c * r + k]) * static_cast<acc_t>(u[i * r + k]) * static_cast<acc_t>(h[b * r + k]);
    out[n] = static_cast<scalar_t>(static_cast<acc_t>(e[i * C + c]) + g * offset);
  }
}

// Shared memory of the rows pass: V transposed [r][C], per-warp dV [kWarps][r][C] and dh [kWarps][r], per-warp
// dot [kWarps] ([k][c] layouts: consecutive lanes hit consecutive banks).
template <typename acc_t>
constexpr size_t rows_shared_bytes(int64_t C, int64_t r) {
  return static_cast<size_t>((1 + kWarps) * C * r + kWarps * r + kWarps) * sizeof(acc_t);
}

// grid (ceil(L / kRowsPerBlock), B). parts: [B * gridDim.x, C*r + r + 1] = dV ([k][c]), dh, dot per block.
template <typename scalar_t, typename acc_t, bool kIdentity>
__global__ void __launch_bounds__(kThreads) backward_rows_kernel(
    const scalar_t* __restrict__ grad, const int64_t* __restrict__ ids, const scalar_t* __restrict__ u,
    const scalar_t* __restrict__ v, const scalar_t* __restrict__ h, acc_t* __restrict__ t_out,
    acc_t* __restrict__ parts, int64_t L, int64_t C, int64_t r, int64_t vocab) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int64_t CR = C * r;
  acc_t* s_vt = reinterpret_cast<acc_t*>(smem_raw);
  acc_t* s_dv = s_vt + CR;
  acc_t* s_dh = s_dv + kWarps * CR;
  acc_t* s_dot = s_dh + kWarps * r;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t j = threadIdx.x; j < CR; j += kThreads) s_vt[(j % r) * C + j / r] = static_cast<acc_t>(v[j]);
  for (int64_t j = threadIdx.x; j < kWarps * (CR + r); j += kThreads) s_dv[j] = acc_t(0);  // s_dv and s_dh
  __syncthreads();

  const int64_t b = blockIdx.y, l_begin = blockIdx.x * kRowsPerBlock;
  const int64_t l_end = (l_begin + kRowsPerBlock < L) ? l_begin + kRowsPerBlock : L;
  acc_t* my_dv = s_dv + warp * CR;
  acc_t* my_dh = s_dh + warp * r;
  acc_t dot = 0;
  for (int64_t l = l_begin + warp; l < l_end; l += kWarps) {
    const int64_t n = b * L + l, i = kIdentity ? l : ids[n];
    const bool known = kIdentity || (i >= 0 && i < vocab);
    const acc_t u_lane = (lane < r && known) ? static_cast<acc_t>(u[i * r + lane]) : acc_t(0);  // r <= 32
    const acc_t h_lane = lane < r ? static_cast<acc_t>(h[b * r + lane]) : acc_t(0);
    acc_t gv[kMaxChunks];
#pragma unroll
    for (int j = 0; j < kMaxChunks; ++j) {
      const int64_t c = lane + 32 * j;
      gv[j] = c < C ? static_cast<acc_t>(grad[n * C + c]) : acc_t(0);
    }
    for (int64_t k = 0; k < r; ++k) {
      acc_t partial = 0;
#pragma unroll
      for (int j = 0; j < kMaxChunks; ++j) {
        const int64_t c = lane + 32 * j;
        if (c < C) partial += gv[j] * s_vt[k * C + c];
      }
      const acc_t t = warp_sum(partial);
      const acc_t uk = __shfl_sync(0xffffffffu, u_lane, static_cast<int>(k));
      const acc_t uh = uk * __shfl_sync(0xffffffffu, h_lane, static_cast<int>(k));
#pragma unroll
      for (int j = 0; j < kMaxChunks; ++j) {
        const int64_t c = lane + 32 * j;
        if (c < C) my_dv[k * C + c] += gv[j] * uh;
      }
      if (lane == 0) {
        t_out[n * r + k] = t;
        my_dh[k] += t * uk;
      }
      dot += t * uh;
    }
  }
  if (lane == 0) s_dot[warp] = dot;
  __syncthreads();

  acc_t* part = parts + (b * gridDim.x + blockIdx.x) * (CR + r + 1);
  for (int64_t j = threadIdx.x; j < CR + r; j += kThreads) {  // dV then dh: both laid out warp by warp
    acc_t sum = 0;
    for (int w = 0; w < kWarps; ++w) sum += j < CR ? s_dv[w * CR + j] : s_dh[w * r + (j - CR)];
    part[j] = sum;
  }
  if (threadIdx.x == 0) {
    acc_t sum = 0;
    for (int w = 0; w < kWarps; ++w) sum += s_dot[w];
    part[CR + r] = sum;
  }
}

// Ids per block of the ids pass: each warp keeps one shared row of C + r sums per id.
inline int64_t ids_per_block(int64_t C, int64_t r, size_t acc_size) {
  const int64_t fit = static_cast<int64_t>(kMaxSharedBytes / (kWarps * (C + r) * acc_size));
  return fit < kMaxIdsPerBlock ? fit : kMaxIdsPerBlock;
}

// grid ceil(vocab / per_block). Writes every row of dE and dU (zeros for unused ids).
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) backward_ids_kernel(
    const scalar_t* __restrict__ grad, const int64_t* __restrict__ ids, const acc_t* __restrict__ t_all,
    const scalar_t* __restrict__ h, const scalar_t* __restrict__ gate, scalar_t* __restrict__ dE,
    scalar_t* __restrict__ dU, int64_t B, int64_t L, int64_t C, int64_t r, int64_t vocab, int64_t per_block) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  acc_t* s_acc = reinterpret_cast<acc_t*>(smem_raw);  // [kWarps][per_block][C + r]: dE row, then dU row
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t width = C + r, first = blockIdx.x * per_block;
  const int64_t count = vocab - first < per_block ? vocab - first : per_block;
  for (int64_t j = threadIdx.x; j < kWarps * per_block * width; j += kThreads) s_acc[j] = acc_t(0);
  __syncthreads();
  acc_t* mine = s_acc + warp * per_block * width;
  auto add_row = [&](int64_t q, int64_t n) {
    acc_t* row = mine + q * width;
    for (int64_t c = lane; c < C; c += 32) row[c] += static_cast<acc_t>(grad[n * C + c]);
    if (lane < r) row[C + lane] += t_all[n * r + lane] * static_cast<acc_t>(h[(n / L) * r + lane]);
  };
  const int64_t N = B * L, segment = (N + kWarps - 1) / kWarps;
  const int64_t begin = warp * segment, end = begin + segment < N ? begin + segment : N;
  for (int64_t n0 = begin; n0 < end; n0 += 32 * kScanUnroll) {
    int64_t q[kScanUnroll];
#pragma unroll
    for (int s = 0; s < kScanUnroll; ++s) {
      const int64_t n = n0 + 32 * s + lane;
      q[s] = n < end ? ids[n] - first : int64_t(-1);
    }
#pragma unroll
    for (int s = 0; s < kScanUnroll; ++s) {
      for (unsigned mask = __ballot_sync(0xffffffffu, q[s] >= 0 && q[s] < count); mask; mask &= mask - 1) {
        const int j = __ffs(mask) - 1;
        add_row(__shfl_sync(0xffffffffu, q[s], j), n0 + 32 * s + j);
      }
    }
  }
  __syncthreads();
  const acc_t g = tanh(static_cast<acc_t>(gate[0]));
  for (int64_t j = threadIdx.x; j < count * width; j += kThreads) {
    acc_t sum = 0;
    for (int w = 0; w < kWarps; ++w) sum += s_acc[w * per_block * width + j];
    const int64_t i = first + j / width, col = j % width;
    if (col < C) dE[i * C + col] = static_cast<scalar_t>(sum);
    else dU[i * r + (col - C)] = static_cast<scalar_t>(g * sum);
  }
}

// The codebook form (row (b, v) holds id v): one thread per element of dE [V, C] and dU [V, r], summing over b.
template <typename scalar_t, typename acc_t>
__global__ void backward_codebook_ids_kernel(const scalar_t* __restrict__ grad, const acc_t* __restrict__ t_all,
                                             const scalar_t* __restrict__ h, const scalar_t* __restrict__ gate,
                                             scalar_t* __restrict__ dE, scalar_t* __restrict__ dU, int64_t B,
                                             int64_t vocab, int64_t C, int64_t r) {
  const acc_t g = tanh(static_cast<acc_t>(gate[0]));
  const int64_t width = C + r, total = vocab * width;
  for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < total; j += (int64_t)gridDim.x * blockDim.x) {
    const int64_t v = j / width, col = j % width;
    acc_t sum = 0;
    if (col < C) {
      for (int64_t b = 0; b < B; ++b) sum += static_cast<acc_t>(grad[(b * vocab + v) * C + col]);
      dE[v * C + col] = static_cast<scalar_t>(sum);
    } else {
      const int64_t k = col - C;
      for (int64_t b = 0; b < B; ++b) sum += t_all[(b * vocab + v) * r + k] * static_cast<acc_t>(h[b * r + k]);
      dU[v * r + k] = static_cast<scalar_t>(g * sum);
    }
  }
}

// One warp per element of dV [C, r], dh [B, r] and da.
template <typename scalar_t, typename acc_t>
__global__ void backward_finish_kernel(const acc_t* __restrict__ parts, const scalar_t* __restrict__ gate,
                                       scalar_t* __restrict__ dV, scalar_t* __restrict__ dh,
                                       scalar_t* __restrict__ da, int64_t B, int64_t blocks_per_batch, int64_t C,
                                       int64_t r) {
  const int lane = threadIdx.x & 31;
  const int64_t j = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
  const int64_t CR = C * r, stride = CR + r + 1;
  if (j > CR + B * r) return;  // the whole warp
  int64_t first = 0, count = B * blocks_per_batch, column = j < CR ? j : CR + r;
  if (j >= CR && j < CR + B * r) {  // dh[b, k]: the blocks of batch b
    first = (j - CR) / r * blocks_per_batch;
    count = blocks_per_batch;
    column = CR + (j - CR) % r;
  }
  acc_t sum = 0;
  for (int64_t x = lane; x < count; x += 32) sum += parts[(first + x) * stride + column];
  sum = warp_sum(sum);
  if (lane != 0) return;
  const acc_t g = tanh(static_cast<acc_t>(gate[0]));
  if (j < CR) dV[(j % C) * r + j / C] = static_cast<scalar_t>(g * sum);  // partials are [k][c]; dV is [c][k]
  else if (j < CR + B * r) dh[j - CR] = static_cast<scalar_t>(g * sum);
  else da[0] = static_cast<scalar_t>((acc_t(1) - g * g) * sum);
}

// Whether the kernels take this shape (else the caller uses the ATen composite).
inline bool backward_supported(const at::Tensor& codebook, int64_t C, int64_t r, int64_t rows) {
  const size_t acc_size = codebook.scalar_type() == at::kDouble ? sizeof(double) : sizeof(float);
  return rows > 0 && codebook.size(0) > 0 && C <= 32 * kMaxChunks && r <= kMaxRank && r > 0 &&
         static_cast<size_t>((1 + kWarps) * C * r + kWarps * r + kWarps) * acc_size <= kMaxSharedBytes;
}

// out [B, rows, C]: rows are the L tokens of ids [B, L] (int64 contiguous), or the whole vocabulary when
// kIdentity (ids unused). One thread per output element, the rank-r offset recomputed per element.
template <bool kIdentity>
at::Tensor forward(const at::Tensor& ids, const at::Tensor& codebook_in, const at::Tensor& U_in,
                   const at::Tensor& V_in, const at::Tensor& h_in, const at::Tensor& gate_in, int64_t rows) {
  const c10::cuda::CUDAGuard guard(codebook_in.device());
  const at::Tensor E = codebook_in.contiguous(), U = U_in.contiguous(), V = V_in.contiguous();
  const at::Tensor h = h_in.contiguous(), gate = gate_in.contiguous();
  const int64_t C = E.size(1), r = U.size(1);
  at::Tensor out = at::empty({h.size(0), rows, C}, E.options());
  const int64_t total = out.numel();
  if (total == 0) return out;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, E.scalar_type(), "cac_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    forward_kernel<scalar_t, acc_t, kIdentity><<<blocks, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        kIdentity ? nullptr : ids.const_data_ptr<int64_t>(), E.const_data_ptr<scalar_t>(), U.const_data_ptr<scalar_t>(),
        V.const_data_ptr<scalar_t>(), h.const_data_ptr<scalar_t>(), gate.const_data_ptr<scalar_t>(),
        out.mutable_data_ptr<scalar_t>(), total, rows, C, r);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

// G: [B, L, C] contiguous in the codebook's dtype; ids: [B, L] int64 contiguous (unused when kIdentity).
template <bool kIdentity>
CacGrads backward(const at::Tensor& G, const at::Tensor& ids, const at::Tensor& codebook, const at::Tensor& U_in,
                  const at::Tensor& V_in, const at::Tensor& h_in, const at::Tensor& gate_in) {
  const c10::cuda::CUDAGuard guard(codebook.device());
  const at::Tensor U = U_in.contiguous(), V = V_in.contiguous(), h = h_in.contiguous(), gate = gate_in.contiguous();
  const int64_t B = G.size(0), L = G.size(1), C = G.size(2), r = U.size(1), vocab = codebook.size(0), N = B * L;
  at::Tensor dE = at::empty({vocab, C}, codebook.options()), dU = at::empty({vocab, r}, codebook.options());
  at::Tensor dV = at::empty({C, r}, codebook.options()), dh = at::empty({B, r}, codebook.options());
  at::Tensor da = at::empty(gate_in.sizes(), codebook.options());
  const int64_t blocks_per_batch = (L + kRowsPerBlock - 1) / kRowsPerBlock;
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, codebook.scalar_type(), "cac_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto acc = codebook.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
    at::Tensor T = at::empty({N, r}, acc), parts = at::empty({B * blocks_per_batch, C * r + r + 1}, acc);
    const int64_t* id_ptr = kIdentity ? nullptr : ids.const_data_ptr<int64_t>();
    const scalar_t* g_ptr = G.const_data_ptr<scalar_t>();
    const scalar_t* gate_ptr = gate.const_data_ptr<scalar_t>();
    backward_rows_kernel<scalar_t, acc_t, kIdentity>
        <<<dim3(static_cast<unsigned>(blocks_per_batch), static_cast<unsigned>(B)), kThreads, rows_shared_bytes<acc_t>(C, r), stream>>>(
            g_ptr, id_ptr, U.const_data_ptr<scalar_t>(), V.const_data_ptr<scalar_t>(), h.const_data_ptr<scalar_t>(),
            T.mutable_data_ptr<acc_t>(), parts.mutable_data_ptr<acc_t>(), L, C, r, vocab);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if constexpr (kIdentity) {
      const int64_t total = vocab * (C + r);
      const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535);
      backward_codebook_ids_kernel<scalar_t, acc_t><<<blocks, kThreads, 0, stream>>>(
          g_ptr, T.const_data_ptr<acc_t>(), h.const_data_ptr<scalar_t>(), gate_ptr, dE.mutable_data_ptr<scalar_t>(),
          dU.mutable_data_ptr<scalar_t>(), B, vocab, C, r);
    } else {
      const int64_t per_block = ids_per_block(C, r, sizeof(acc_t));
      const size_t ids_smem = static_cast<size_t>(kWarps * per_block * (C + r)) * sizeof(acc_t);
      backward_ids_kernel<scalar_t, acc_t><<<(vocab + per_block - 1) / per_block, kThreads, ids_smem, stream>>>(
          g_ptr, id_ptr, T.const_data_ptr<acc_t>(), h.const_data_ptr<scalar_t>(), gate_ptr,
          dE.mutable_data_ptr<scalar_t>(), dU.mutable_data_ptr<scalar_t>(), B, L, C, r, vocab, per_block);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const int64_t outputs = C * r + B * r + 1, warps_per_block = kThreads / 32;
    backward_finish_kernel<scalar_t, acc_t>
        <<<(outputs + warps_per_block - 1) / warps_per_block, kThreads, 0, stream>>>(
        parts.const_data_ptr<acc_t>(), gate_ptr, dV.mutable_data_ptr<scalar_t>(), dh.mutable_data_ptr<scalar_t>(),
        da.mutable_data_ptr<scalar_t>(), B, blocks_per_batch, C, r);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {dE, dU, dV, dh, da};
}

}  // namespace realiisr::cac_cuda
