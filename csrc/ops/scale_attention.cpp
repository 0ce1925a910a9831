// Multi-scale attention, level by level: the queries of one level attend, without a mask, to the key
// prefix they may see, through ATen's scaled_dot_product_attention — so masked key blocks are never
// computed, no L x L mask exists, and every level can take SDPA's fused mask-free kernels (the CPU flash
// kernel; FlashAttention/cuDNN on CUDA, which a boolean mask rules out). Registered as
// CompositeImplicitAutograd: autograd, fake tensors and torch.compile go through SDPA's own backward and
// meta kernels, for CPU and CUDA alike.
#include "ops/scale_attention.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "common/checks.h"

namespace realiisr {

void scale_attention_check(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, at::IntArrayRef level_ends,
                           double scale) {
  constexpr const char* op = "realiisr::scale_attention";
  check_dim(q, 4, op, "q");
  check_dim(k, 4, op, "k");
  check_dim(v, 4, op, "v");
  check_floating(q, op, "q");
  check_same_dtype(q, k, op, "q", "k");
  check_same_dtype(q, v, op, "q", "v");
  check_same_device(q, k, op, "q", "k");
  check_same_device(q, v, op, "q", "v");
  TORCH_CHECK(k.sizes() == v.sizes(), op, ": k and v must have one shape, got ", k.sizes(), " and ", v.sizes());
  TORCH_CHECK(q.size(0) == k.size(0) && q.size(1) == k.size(1) && q.size(3) == k.size(3), op,
              ": q [B, H, Lq, D] and k [B, H, Lk, D] disagree: ", q.sizes(), " vs ", k.sizes());
  const int64_t lk = k.size(2);
  TORCH_CHECK(q.size(2) <= lk, op, ": ", q.size(2), " queries but only ", lk, " keys");
  TORCH_CHECK(!level_ends.empty() && level_ends.back() == lk, op, ": level_ends must end at Lk=", lk, ", got ",
              level_ends);
  int64_t previous = 0;
  for (int64_t end : level_ends) {
    TORCH_CHECK(end > previous, op, ": level_ends must increase strictly from 0, got ", level_ends);
    previous = end;
  }
  TORCH_CHECK(std::isfinite(scale), op, ": scale must be finite, got ", scale);
}

namespace {

at::Tensor scale_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, at::IntArrayRef level_ends,
                           double scale) {
  scale_attention_check(q, k, v, level_ends, scale);
  const int64_t lq = q.size(2), first_key = k.size(2) - lq;  // key position of query row 0
  std::vector<at::Tensor> parts;
  int64_t start = 0;
  for (int64_t end : level_ends) {
    const int64_t lo = std::max(start, first_key);
    if (end > lo) {
      parts.push_back(at::scaled_dot_product_attention(q.narrow(2, lo - first_key, end - lo), k.narrow(2, 0, end),
                                                       v.narrow(2, 0, end), /*attn_mask=*/std::nullopt,
                                                       /*dropout_p=*/0.0, /*is_causal=*/false, scale));
    }
    start = end;
  }
  return parts.size() == 1 ? parts.front() : at::cat(parts, 2);
}

}  // namespace

TORCH_LIBRARY_IMPL(realiisr, CompositeImplicitAutograd, m) { m.impl("scale_attention", &scale_attention); }

}  // namespace realiisr
