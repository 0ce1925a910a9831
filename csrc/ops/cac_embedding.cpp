// CAC embedding and whole conditioned codebook: argument checks, and ATen composites for devices without a
// kernel of their own (CPU and CUDA have kernels for all four).
#include "ops/cac_embedding.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "common/checks.h"

namespace realiisr {

namespace {

// The factors' shapes, dtypes and devices, shared by the per-token and the whole-codebook op.
void check_factors(const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V, const at::Tensor& h,
                   const at::Tensor& gate, const char* op) {
  check_dim(codebook, 2, op, "codebook");
  check_dim(U, 2, op, "U");
  check_dim(V, 2, op, "V");
  check_dim(h, 2, op, "h");
  check_floating(codebook, op, "codebook");
  for (const auto& [t, name] : {std::pair{&U, "U"}, std::pair{&V, "V"}, std::pair{&h, "h"}, std::pair{&gate, "gate"}}) {
    check_same_dtype(codebook, *t, op, "codebook", name);
    check_same_device(codebook, *t, op, "codebook", name);
  }
  const int64_t vocab = codebook.size(0), dim = codebook.size(1), rank = U.size(1);
  TORCH_CHECK(U.size(0) == vocab, op, ": U must be [V=", vocab, ", r], got ", U.sizes());
  TORCH_CHECK(V.size(0) == dim && V.size(1) == rank, op, ": V must be [C=", dim, ", r=", rank, "], got ", V.sizes());
  TORCH_CHECK(h.size(1) == rank, op, ": h must be [B, r=", rank, "], got ", h.sizes());
  TORCH_CHECK(gate.numel() == 1, op, ": gate must hold one value, got shape ", gate.sizes());
}

}  // namespace

void cac_codebook_check(const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V, const at::Tensor& h,
                        const at::Tensor& gate) {
  check_factors(codebook, U, V, h, gate, "realiisr::cac_codebook");
}

void cac_check(const at::Tensor& idx, const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V,
               const at::Tensor& h, const at::Tensor& gate, bool check_id_range) {
  constexpr const char* op = "realiisr::cac_embedding";
  check_dim(idx, 2, op, "idx");
  TORCH_CHECK(idx.scalar_type() == at::kLong, op, ": idx must be int64, got ", idx.scalar_type());
  check_factors(codebook, U, V, h, gate, op);
  check_same_device(codebook, idx, op, "codebook", "idx");
  TORCH_CHECK(h.size(0) == idx.size(0), op, ": h must be [B=", idx.size(0), ", r], got ", h.sizes());
  const int64_t vocab = codebook.size(0);
  if (check_id_range && idx.numel() > 0) {
    auto [lo, hi] = at::aminmax(idx);
    const int64_t min_id = lo.item<int64_t>(), max_id = hi.item<int64_t>();
    TORCH_CHECK(min_id >= 0 && max_id < vocab, op, ": token ids must lie in [0, ", vocab, "), got [", min_id, ", ",
                max_id, "]");
  }
}

// Gradients for (codebook, U, V, h, gate). With G = grad rows [N, C], UH = U[idx] * h[b] [N, r]:
//   dE = scatter(G), T = G V, dU = scatter(g T * h[b]), dh[b] = sum_l g T * U[idx], dV = g G^T UH,
//   da = (1 - g^2) sum(T * UH).
CacGrads cac_embedding_backward_composite(const at::Tensor& grad, const at::Tensor& idx, const at::Tensor& codebook,
                                          const at::Tensor& U, const at::Tensor& V, const at::Tensor& h,
                                          const at::Tensor& gate) {
  const int64_t B = idx.size(0), L = idx.size(1), C = codebook.size(1), r = U.size(1);
  const at::Tensor g = at::tanh(gate.reshape({}));
  const at::Tensor flat_idx = idx.reshape({-1});
  const at::Tensor G = grad.reshape({B * L, C}).to(codebook.scalar_type());
  const at::Tensor U_rows = U.index_select(0, flat_idx);                                   // [N, r]
  const at::Tensor h_rows = h.repeat_interleave(L, 0);                                     // [N, r]
  const at::Tensor UH = U_rows * h_rows;
  const at::Tensor T = at::mm(G, V);                                                       // [N, r]
  at::Tensor dE = at::zeros_like(codebook).index_put_({flat_idx}, G, /*accumulate=*/true);
  at::Tensor dU = at::zeros_like(U).index_put_({flat_idx}, T * h_rows * g, /*accumulate=*/true);
  at::Tensor dh = (T * U_rows * g).reshape({B, L, r}).sum(1);
  at::Tensor dV = at::mm(G.t(), UH) * g;
  at::Tensor da = ((1 - g * g) * (T * UH).sum()).reshape(gate.sizes());
  return {dE, dU, dV, dh, da};
}

namespace {

// out[b] = E + g (U * h[b]) V^T, as dense ATen ops.
at::Tensor cac_codebook_composite(const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V,
                                  const at::Tensor& h, const at::Tensor& gate) {
  cac_codebook_check(codebook, U, V, h, gate);
  return codebook.unsqueeze(0) + at::tanh(gate.reshape({})) * at::matmul(U.unsqueeze(0) * h.unsqueeze(1), V.t());
}

}  // namespace

// With G = grad [B, V, C], UH[b] = U * h[b] [B, V, r], T = G V [B, V, r]:
//   dE = sum_b G, dU = g sum_b T * h[b], dh[b] = g sum_v T * U, dV = g sum_b G[b]^T UH[b], da = (1 - g^2) sum(T * UH).
CacGrads cac_codebook_backward_composite(const at::Tensor& grad, const at::Tensor& codebook, const at::Tensor& U,
                                         const at::Tensor& V, const at::Tensor& h, const at::Tensor& gate) {
  cac_codebook_check(codebook, U, V, h, gate);
  const at::Tensor g = at::tanh(gate.reshape({}));
  const at::Tensor G = grad.to(codebook.scalar_type());
  const at::Tensor UH = U.unsqueeze(0) * h.unsqueeze(1);                          // [B, V, r]
  const at::Tensor T = at::matmul(G, V);                                          // [B, V, r]
  at::Tensor dE = G.sum(0);
  at::Tensor dU = (T * h.unsqueeze(1)).sum(0) * g;
  at::Tensor dh = (T * U.unsqueeze(0)).sum(1) * g;
  at::Tensor dV = at::matmul(G.flatten(0, 1).t(), UH.flatten(0, 1)) * g;          // [C, r]
  at::Tensor da = ((1 - g * g) * (T * UH).sum()).reshape(gate.sizes());
  return {dE, dU, dV, dh, da};
}

TORCH_LIBRARY_IMPL(realiisr, CompositeExplicitAutograd, m) {
  m.impl("cac_embedding_backward", &cac_embedding_backward_composite);
  m.impl("cac_codebook", &cac_codebook_composite);
  m.impl("cac_codebook_backward", &cac_codebook_backward_composite);
}

}  // namespace realiisr
