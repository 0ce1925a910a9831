// Argument validation for the fused GroupNorm + SiLU, shared by every backend.
#include "ops/group_norm_silu.h"

#include "common/checks.h"

namespace realiisr {

void group_norm_silu_check(const at::Tensor& x, int64_t num_groups, const std::optional<at::Tensor>& weight,
                           const std::optional<at::Tensor>& bias, double eps, const char* op) {
  TORCH_CHECK(x.dim() >= 2, op, ": x must be [N, C, *], got shape ", x.sizes());
  check_floating(x, op, "x");
  const int64_t C = x.size(1);
  TORCH_CHECK(num_groups >= 1 && C % num_groups == 0, op, ": num_groups=", num_groups,
              " must be positive and divide the ", C, " channels of x");
  TORCH_CHECK(eps >= 0, op, ": eps must be >= 0, got ", eps);
  const std::pair<const std::optional<at::Tensor>*, const char*> params[] = {{&weight, "weight"}, {&bias, "bias"}};
  for (const auto& [param, name] : params) {
    if (!param->has_value()) continue;
    const at::Tensor& t = param->value();
    TORCH_CHECK(t.dim() == 1 && t.size(0) == C, op, ": ", name, " must have shape [", C, "], got ", t.sizes());
    check_floating(t, op, name);
    check_same_device(x, t, op, "x", name);
  }
}

}  // namespace realiisr
