// Thermal-order-consistency (TOC) loss: shared declarations and the per-patch math used by both the
// CPU and the CUDA kernels, so the two backends cannot drift apart.
//
// Patch maps s (prediction) and t (target) are the channel mean average-pooled over p x p patches
// (trailing rows/columns dropped). For patch i and each of the 8 neighbour offsets o:
//   term(i, o) = relu(-(s_i - s_n) * (t_i - t_n)) * [|t_i - t_n| >= tau],  loss_i = (1/8) sum_o term(i, o),
// where a neighbour n = i + o outside the grid contributes 0: the reference replaces the wrapped rows and
// columns of its rolled maps by the centre's own edge values, which makes those differences exactly 0.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/macros/Macros.h>
#include <c10/util/ArrayRef.h>

#include <tuple>

namespace realiisr {

// Returns (loss_map [B,1,Hp,Wp] in the input dtype, s_pool [B,Hp,Wp], t_pool [B,Hp,Wp] in opmath).
std::tuple<at::Tensor, at::Tensor, at::Tensor> toc_loss_forward_cpu(const at::Tensor& sr, const at::Tensor& hr,
                                                                    int64_t patch_size, double threshold);
at::Tensor toc_loss_backward_cpu(const at::Tensor& grad_map, const at::Tensor& s_pool, const at::Tensor& t_pool,
                                 int64_t patch_size, double threshold, c10::IntArrayRef input_shape);

// Validates the forward arguments and returns (Hp, Wp).
std::pair<int64_t, int64_t> toc_check_forward(const at::Tensor& sr, const at::Tensor& hr, int64_t patch_size);
void toc_check_backward(const at::Tensor& grad_map, const at::Tensor& s_pool, const at::Tensor& t_pool,
                        int64_t patch_size, c10::IntArrayRef input_shape);

namespace toc {

C10_HOST_DEVICE inline bool inside(int64_t y, int64_t x, int64_t Hp, int64_t Wp) {
  return y >= 0 && y < Hp && x >= 0 && x < Wp;
}

// Whether the pair (centre c, neighbour n) is an active order violation; writes dt = t_c - t_n.
template <typename acc_t>
C10_HOST_DEVICE inline bool violated(const acc_t* s, const acc_t* t, int64_t c, int64_t n, acc_t thr, acc_t& dt) {
  dt = t[c] - t[n];
  const acc_t v = -(s[c] - s[n]) * dt;
  return (dt >= thr || -dt >= thr) && v > acc_t(0);
}

// Mean over the 8 offsets of the order-violation terms of patch (y, x).
template <typename acc_t>
C10_HOST_DEVICE inline acc_t patch_loss(const acc_t* s, const acc_t* t, int64_t Hp, int64_t Wp, int64_t y,
                                        int64_t x, acc_t thr) {
  const int64_t c = y * Wp + x;
  acc_t sum = 0;
  for (int dy = -1; dy <= 1; ++dy) {
    for (int dx = -1; dx <= 1; ++dx) {
      if ((dy == 0 && dx == 0) || !inside(y + dy, x + dx, Hp, Wp)) continue;
      acc_t dt;
      if (violated(s, t, c, (y + dy) * Wp + x + dx, thr, dt)) sum += -(s[c] - s[(y + dy) * Wp + x + dx]) * dt;
    }
  }
  return sum / acc_t(8);
}

// d(sum_j g_j * loss_j) / d s_i, gathered without atomics: patch i is the centre of its own terms and
// the neighbour in the terms of patch i - o for every offset o.
template <typename acc_t>
C10_HOST_DEVICE inline acc_t patch_grad(const acc_t* s, const acc_t* t, const acc_t* g, int64_t Hp, int64_t Wp,
                                        int64_t y, int64_t x, acc_t thr) {
  const int64_t i = y * Wp + x;
  acc_t grad = 0;
  for (int dy = -1; dy <= 1; ++dy) {
    for (int dx = -1; dx <= 1; ++dx) {
      if (dy == 0 && dx == 0) continue;
      acc_t dt;
      // term(i, i+o) = -(s_i - s_n) * dt: d/ds_i = -dt
      if (inside(y + dy, x + dx, Hp, Wp) && violated(s, t, i, (y + dy) * Wp + x + dx, thr, dt)) grad -= dt * g[i];
      // term(j, j+o) with j = i - o: d/ds_i = +dt
      if (inside(y - dy, x - dx, Hp, Wp)) {
        const int64_t j = (y - dy) * Wp + x - dx;
        if (violated(s, t, j, i, thr, dt)) grad += dt * g[j];
      }
    }
  }
  return grad / acc_t(8);
}

}  // namespace toc
}  // namespace realiisr
