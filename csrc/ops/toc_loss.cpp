// Argument validation for the TOC loss, shared by every backend.
#include "ops/toc_loss.h"

#include "common/checks.h"

namespace realiisr {

std::pair<int64_t, int64_t> toc_check_forward(const at::Tensor& sr, const at::Tensor& hr, int64_t patch_size) {
  constexpr const char* op = "realiisr::toc_loss";
  check_dim(sr, 4, op, "sr");
  check_dim(hr, 4, op, "hr");
  check_floating(sr, op, "sr");
  check_same_dtype(sr, hr, op, "sr", "hr");
  check_same_device(sr, hr, op, "sr", "hr");
  TORCH_CHECK(sr.sizes() == hr.sizes(), op, ": sr and hr must have the same shape, got ", sr.sizes(), " and ",
              hr.sizes());
  TORCH_CHECK(patch_size >= 1, op, ": patch_size must be >= 1, got ", patch_size);
  TORCH_CHECK(sr.size(0) >= 1 && sr.size(1) >= 1, op, ": sr must have at least one image and one channel, got ",
              sr.sizes());
  TORCH_CHECK(sr.size(2) >= patch_size && sr.size(3) >= patch_size, op, ": images of ", sr.size(2), "x",
              sr.size(3), " are smaller than one ", patch_size, "x", patch_size, " patch");
  return {sr.size(2) / patch_size, sr.size(3) / patch_size};
}

void toc_check_backward(const at::Tensor& grad_map, const at::Tensor& s_pool, const at::Tensor& t_pool,
                        int64_t patch_size, c10::IntArrayRef input_shape) {
  constexpr const char* op = "realiisr::toc_loss_backward";
  TORCH_CHECK(input_shape.size() == 4, op, ": input_shape must have 4 entries, got ", input_shape);
  TORCH_CHECK(patch_size >= 1, op, ": patch_size must be >= 1, got ", patch_size);
  const int64_t B = input_shape[0], Hp = input_shape[2] / patch_size, Wp = input_shape[3] / patch_size;
  check_dim(s_pool, 3, op, "s_pool");
  TORCH_CHECK(s_pool.sizes() == t_pool.sizes() && s_pool.size(0) == B && s_pool.size(1) == Hp &&
                  s_pool.size(2) == Wp,
              op, ": pooled maps of shape ", s_pool.sizes(), " / ", t_pool.sizes(), " do not fit input_shape ",
              input_shape);
  TORCH_CHECK(grad_map.numel() == B * Hp * Wp, op, ": grad_map has ", grad_map.numel(), " elements, expected ",
              B * Hp * Wp);
  check_same_device(grad_map, s_pool, op, "grad_map", "s_pool");
  check_same_device(s_pool, t_pool, op, "s_pool", "t_pool");
  check_same_dtype(s_pool, t_pool, op, "s_pool", "t_pool");
}

}  // namespace realiisr
