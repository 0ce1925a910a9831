// CAC embedding on the CPU. Forward: one pass over the output rows, the low-rank offset computed in place.
// Backward: one pass over the gradient rows for T = G V, dV, da (fixed row blocks, summed in block order),
// then dh per batch row and dE/dU gathered per id range. Every sum runs in a fixed order whatever the thread
// count, so the gradients are deterministic without atomics; the eager form needs two skinny GEMMs (slow in
// BLAS at r = 8) and two index_put scatters.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cac_embedding.h"
#include "ops/cpu/cac_grads.h"
#include "ops/cpu/cac_row.h"

namespace realiisr {

at::Tensor cac_embedding_cpu(const at::Tensor& idx_in, const at::Tensor& codebook_in, const at::Tensor& U_in,
                             const at::Tensor& V_in, const at::Tensor& h_in, const at::Tensor& gate) {
  cac_check(idx_in, codebook_in, U_in, V_in, h_in, gate);
  const at::Tensor idx = idx_in.contiguous(), E = codebook_in.contiguous(), U = U_in.contiguous();
  const at::Tensor h = h_in.contiguous();
  const int64_t B = idx.size(0), L = idx.size(1), C = E.size(1), r = U.size(1);
  at::Tensor out = at::empty({B, L, C}, E.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, E.scalar_type(), "cac_embedding_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const at::Tensor Vt = V_in.t().to(c10::CppTypeToScalarType<acc_t>::value).contiguous();  // [r, C]
    const acc_t g = std::tanh(static_cast<acc_t>(gate.item<double>()));
    const int64_t* ids = idx.const_data_ptr<int64_t>();
    const scalar_t* e = E.const_data_ptr<scalar_t>();
    const scalar_t* u = U.const_data_ptr<scalar_t>();
    const acc_t* vt = Vt.const_data_ptr<acc_t>();
    const scalar_t* hh = h.const_data_ptr<scalar_t>();
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * L, 256, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> uh(r);
      cpu::call_isa([&]() REALIISR_LOOP {
        for (int64_t n = begin, b = begin / L, l = begin % L; n < end; ++n) {
          const int64_t i = ids[n];
          cac_row(e + i * C, u + i * r, hh + b * r, vt, g, r, C, uh.data(), o + n * C);
          if (++l == L) l = 0, ++b;  // no 64-bit division per row
        }
      });
    });
  });
  return out;
}

CacGrads cac_embedding_backward_cpu(const at::Tensor& grad_in, const at::Tensor& idx_in, const at::Tensor& codebook,
                                    const at::Tensor& U_in, const at::Tensor& V_in, const at::Tensor& h_in,
                                    const at::Tensor& gate) {
  cac_check(idx_in, codebook, U_in, V_in, h_in, gate);
  const int64_t B = idx_in.size(0), L = idx_in.size(1), vocab = codebook.size(0), C = codebook.size(1),
                r = U_in.size(1), N = B * L;
  const at::Tensor G = cac_grad_rows(grad_in, codebook, B, L, "L", "realiisr::cac_embedding_backward");
  const at::Tensor idx = idx_in.contiguous(), U = U_in.contiguous(), h = h_in.contiguous();
  CacGrads grads;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, codebook.scalar_type(), "cac_embedding_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto acc = codebook.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
    const at::Tensor Vacc = V_in.to(acc.dtype()).contiguous();  // [C, r]
    const acc_t g = std::tanh(static_cast<acc_t>(gate.item<double>()));
    constexpr int64_t kRows = 512;  // fixed blocks: the order of every partial sum ignores the thread count
    const int64_t blocks = (N + kRows - 1) / kRows;
    at::Tensor T = at::empty({N, r}, acc), dV_parts = at::zeros({blocks, C, r}, acc);
    std::vector<acc_t> dot_parts(blocks, acc_t(0));
    const int64_t* ids = idx.const_data_ptr<int64_t>();
    const scalar_t* gr = G.const_data_ptr<scalar_t>();
    const scalar_t* u = U.const_data_ptr<scalar_t>();
    const scalar_t* hh = h.const_data_ptr<scalar_t>();
    const acc_t* v = Vacc.const_data_ptr<acc_t>();
    acc_t* t_all = T.mutable_data_ptr<acc_t>();
    acc_t* dv_all = dV_parts.mutable_data_ptr<acc_t>();
    at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
      std::vector<acc_t> uh(r), grow(C);
      cpu::call_isa([&]() REALIISR_LOOP {
        for (int64_t blk = first; blk < last; ++blk) {
          acc_t dot = 0;
          for (int64_t n = blk * kRows; n < std::min(N, (blk + 1) * kRows); ++n) {
            const int64_t i = ids[n], b = n / L;
            for (int64_t k = 0; k < r; ++k) uh[k] = static_cast<acc_t>(u[i * r + k]) * static_cast<acc_t>(hh[b * r + k]);
            dot += cac_row_backward(gr + n * C, uh.data(), v, r, C, grow.data(), t_all + n * r, dv_all + blk * C * r);
          }
          dot_parts[blk] = dot;
        }
      });
    });
    at::Tensor dV_acc = at::zeros({C, r}, acc);
    sum_blocks_in_order(dv_all, blocks, C * r, g, dV_acc.mutable_data_ptr<acc_t>());
    acc_t dot = 0;
    sum_blocks_in_order(dot_parts.data(), blocks, 1, acc_t(1), &dot);
    // dh[b] = g sum_l T[b, l] * U[idx[b, l]]
    at::Tensor dh_acc = at::zeros({B, r}, acc);
    acc_t* dhp = dh_acc.mutable_data_ptr<acc_t>();
    at::parallel_for(0, B, 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b)
        for (int64_t l = 0; l < L; ++l) {
          const int64_t n = b * L + l, i = ids[n];
          for (int64_t k = 0; k < r; ++k) dhp[b * r + k] += g * t_all[n * r + k] * static_cast<acc_t>(u[i * r + k]);
        }
    });
    // dE[v] = sum of G rows with id v, dU[v] = g sum T * h[b] over the same rows: each thread owns an id range
    // and scans all ids in order (N int64 reads), so no two threads touch one row.
    at::Tensor dE_acc = at::zeros({vocab, C}, acc), dU_acc = at::zeros({vocab, r}, acc);
    acc_t* de = dE_acc.mutable_data_ptr<acc_t>();
    acc_t* du = dU_acc.mutable_data_ptr<acc_t>();
    at::parallel_for(0, vocab, 512, [&](int64_t v0, int64_t v1) {
      cpu::call_isa([&]() REALIISR_LOOP {
        for (int64_t n = 0; n < N; ++n) {
          const int64_t i = ids[n];
          if (i < v0 || i >= v1) continue;
          const int64_t b = n / L;
          acc_t* __restrict de_row = de + i * C;
          const scalar_t* __restrict g_row = gr + n * C;
          add_row(de_row, g_row, C);
          for (int64_t k = 0; k < r; ++k) du[i * r + k] += g * t_all[n * r + k] * static_cast<acc_t>(hh[b * r + k]);
        }
      });
    });
    grads = cac_finish_grads(dE_acc, dU_acc, dV_acc, dh_acc, g, dot, gate, codebook);
  });
  return grads;
}

TORCH_LIBRARY_IMPL(realiisr, CPU, m) {
  m.impl("cac_embedding", &cac_embedding_cpu);
  m.impl("cac_embedding_backward", &cac_embedding_backward_cpu);
}

}  // namespace realiisr
