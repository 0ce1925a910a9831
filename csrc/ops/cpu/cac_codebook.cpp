// The whole conditioned codebook on the CPU, out[b, v, :] = E[v, :] + tanh(a) * V (U[v, :] * h[b, :]), in one
// pass over the output (the eager form makes three: the low-rank product, the gate, the add), and its backward
// in one pass over the gradient, blocked over the vocabulary (fixed blocks, partials summed in block order:
// deterministic whatever the thread count).
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

at::Tensor cac_codebook_cpu(const at::Tensor& codebook_in, const at::Tensor& U_in, const at::Tensor& V_in,
                            const at::Tensor& h_in, const at::Tensor& gate) {
  cac_codebook_check(codebook_in, U_in, V_in, h_in, gate);
  const at::Tensor E = codebook_in.contiguous(), U = U_in.contiguous(), h = h_in.contiguous();
  const int64_t B = h.size(0), vocab = E.size(0), C = E.size(1), r = U.size(1);
  at::Tensor out = at::empty({B, vocab, C}, E.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, E.scalar_type(), "cac_codebook_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const at::Tensor Vt = V_in.t().to(c10::CppTypeToScalarType<acc_t>::value).contiguous();  // [r, C]
    const acc_t g = std::tanh(static_cast<acc_t>(gate.item<double>()));
    const scalar_t* e = E.const_data_ptr<scalar_t>();
    const scalar_t* u = U.const_data_ptr<scalar_t>();
    const acc_t* vt = Vt.const_data_ptr<acc_t>();
    const scalar_t* hh = h.const_data_ptr<scalar_t>();
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * vocab, 256, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> uh(r);
      cpu::call_isa([&]() REALIISR_LOOP {
        for (int64_t n = begin; n < end; ++n) {
          const int64_t b = n / vocab, v = n % vocab;
          cac_row(e + v * C, u + v * r, hh + b * r, vt, g, r, C, uh.data(), o + n * C);
        }
      });
    });
  });
  return out;
}

// With G = grad [B, V, C], UH[b] = U * h[b], T = G V:
//   dE = sum_b G, dU = g sum_b T * h[b], dh[b] = g sum_v T * U, dV = g sum_b G[b]^T UH[b], da = (1 - g^2) sum(T * UH).
CacGrads cac_codebook_backward_cpu(const at::Tensor& grad_in, const at::Tensor& codebook, const at::Tensor& U_in,
                                   const at::Tensor& V_in, const at::Tensor& h_in, const at::Tensor& gate) {
  cac_codebook_check(codebook, U_in, V_in, h_in, gate);
  const int64_t B = h_in.size(0), vocab = codebook.size(0), C = codebook.size(1), r = U_in.size(1);
  const at::Tensor G = cac_grad_rows(grad_in, codebook, B, vocab, "V", "realiisr::cac_codebook_backward");
  const at::Tensor U = U_in.contiguous(), h = h_in.contiguous();
  CacGrads grads;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, codebook.scalar_type(), "cac_codebook_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto acc = codebook.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
    const at::Tensor Vacc = V_in.to(acc.dtype()).contiguous();  // [C, r]
    const acc_t g = std::tanh(static_cast<acc_t>(gate.item<double>()));
    constexpr int64_t kIds = 256;
    const int64_t blocks = (vocab + kIds - 1) / kIds;
    at::Tensor dE_acc = at::zeros({vocab, C}, acc), dU_acc = at::zeros({vocab, r}, acc);
    at::Tensor dV_parts = at::zeros({blocks, C, r}, acc), dh_parts = at::zeros({blocks, B, r}, acc);
    std::vector<acc_t> dot_parts(blocks, acc_t(0));
    const scalar_t* gr = G.const_data_ptr<scalar_t>();
    const scalar_t* u = U.const_data_ptr<scalar_t>();
    const scalar_t* hh = h.const_data_ptr<scalar_t>();
    const acc_t* v = Vacc.const_data_ptr<acc_t>();
    acc_t* de = dE_acc.mutable_data_ptr<acc_t>();
    acc_t* du = dU_acc.mutable_data_ptr<acc_t>();
    acc_t* dv_all = dV_parts.mutable_data_ptr<acc_t>();
    acc_t* dh_all = dh_parts.mutable_data_ptr<acc_t>();
    at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
      std::vector<acc_t> uh(r), grow(C), t(r);
      cpu::call_isa([&]() REALIISR_LOOP {
        for (int64_t blk = first; blk < last; ++blk) {
          acc_t dot = 0;
          for (int64_t id = blk * kIds; id < std::min(vocab, (blk + 1) * kIds); ++id) {
            for (int64_t b = 0; b < B; ++b) {
              const scalar_t* hb = hh + b * r;
              for (int64_t k = 0; k < r; ++k) uh[k] = static_cast<acc_t>(u[id * r + k]) * static_cast<acc_t>(hb[k]);
              dot += cac_row_backward(gr + (b * vocab + id) * C, uh.data(), v, r, C, grow.data(), t.data(),
                                      dv_all + blk * C * r);
              add_row(de + id * C, grow.data(), C);
              for (int64_t k = 0; k < r; ++k) {
                du[id * r + k] += g * t[k] * static_cast<acc_t>(hb[k]);
                dh_all[(blk * B + b) * r + k] += g * t[k] * static_cast<acc_t>(u[id * r + k]);
              }
            }
          }
          dot_parts[blk] = dot;
        }
      });
    });
    at::Tensor dV_acc = at::zeros({C, r}, acc), dh_acc = at::zeros({B, r}, acc);
    sum_blocks_in_order(dv_all, blocks, C * r, g, dV_acc.mutable_data_ptr<acc_t>());
    sum_blocks_in_order(dh_all, blocks, B * r, acc_t(1), dh_acc.mutable_data_ptr<acc_t>());
    acc_t dot = 0;
    sum_blocks_in_order(dot_parts.data(), blocks, 1, acc_t(1), &dot);
    grads = cac_finish_grads(dE_acc, dU_acc, dV_acc, dh_acc, g, dot, gate, codebook);
  });
  return grads;
}

TORCH_LIBRARY_IMPL(realiisr, CPU, m) {
  m.impl("cac_codebook", &cac_codebook_cpu);
  m.impl("cac_codebook_backward", &cac_codebook_backward_cpu);
}

}  // namespace realiisr
