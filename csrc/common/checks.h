// Argument checks shared by every op: each failure names the op and the argument, so a bad call from
// Python raises a RuntimeError with a readable message instead of reading out of bounds.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace realiisr {

inline void check_floating(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.is_floating_point(), op, ": ", name, " must be a floating-point tensor, got ", t.scalar_type());
}

inline void check_dim(const at::Tensor& t, int64_t dim, const char* op, const char* name) {
  TORCH_CHECK(t.dim() == dim, op, ": ", name, " must have ", dim, " dimensions, got shape ", t.sizes());
}

inline void check_same_device(const at::Tensor& a, const at::Tensor& b, const char* op, const char* na,
                              const char* nb) {
  TORCH_CHECK(a.device() == b.device(), op, ": ", na, " is on ", a.device(), " but ", nb, " is on ",
              b.device());
}

inline void check_same_dtype(const at::Tensor& a, const at::Tensor& b, const char* op, const char* na,
                             const char* nb) {
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), op, ": ", na, " is ", a.scalar_type(), " but ", nb, " is ",
              b.scalar_type());
}

}  // namespace realiisr
