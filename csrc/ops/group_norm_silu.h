// GroupNorm followed by SiLU, fused for inference: y = silu((x - mean_g) * rstd_g * weight_c + bias_c), with the
// statistics of each (image, group) over its channels and positions, as torch.nn.GroupNorm computes them.
// One read for the statistics and one read/write for the normalisation; the in-place form writes into x, so a
// decoder block makes no new activation for it. There is no backward: the Python wrapper uses eager
// GroupNorm + SiLU whenever a gradient is needed.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace realiisr {

at::Tensor group_norm_silu_cpu(const at::Tensor& x, int64_t num_groups, const std::optional<at::Tensor>& weight,
                               const std::optional<at::Tensor>& bias, double eps);
void group_norm_silu_inplace_cpu(at::Tensor& x, int64_t num_groups, const std::optional<at::Tensor>& weight,
                                 const std::optional<at::Tensor>& bias, double eps);

// Validates the arguments (op names the schema in messages).
void group_norm_silu_check(const at::Tensor& x, int64_t num_groups, const std::optional<at::Tensor>& weight,
                           const std::optional<at::Tensor>& bias, double eps, const char* op);

}  // namespace realiisr
