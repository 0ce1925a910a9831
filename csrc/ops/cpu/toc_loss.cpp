// TOC loss on the CPU: one streaming pass over both images to pool, per-patch math on the small maps,
// and one streaming pass to write the image gradient.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "common/cpu_isa.h"
#include "ops/toc_loss.h"

namespace realiisr {
namespace {

// Sum of channel-mean values over each p x p patch of patch row `py`, written to out[0..Wp).
template <typename scalar_t, typename acc_t>
REALIISR_INLINE void pool_patch_row(const scalar_t* img, int64_t C, int64_t H, int64_t W, int64_t p, int64_t Wp,
                                    int64_t py, acc_t scale, acc_t* out, acc_t* __restrict cols) {
  // The C*p image rows of this patch row are read front to back, four at a time, into one W-long column-sum
  // row that stays in L1: four streaming reads per pass (the prefetcher's best case) and a quarter of the
  // column-row loads and stores; only then are the columns folded into patches.
  const int64_t n = Wp * p, rows = C * p;
  auto row_at = [&](int64_t j) { return img + ((j / p) * H + py * p + j % p) * W; };
  std::fill(cols, cols + n, acc_t(0));
  int64_t j = 0;
  for (; j + 4 <= rows; j += 4) {
    const scalar_t* __restrict r0 = row_at(j);
    const scalar_t* __restrict r1 = row_at(j + 1);
    const scalar_t* __restrict r2 = row_at(j + 2);
    const scalar_t* __restrict r3 = row_at(j + 3);
    for (int64_t k = 0; k < n; ++k)
      cols[k] += (static_cast<acc_t>(r0[k]) + static_cast<acc_t>(r1[k])) +
                 (static_cast<acc_t>(r2[k]) + static_cast<acc_t>(r3[k]));
  }
  for (; j < rows; ++j) {
    const scalar_t* __restrict row = row_at(j);
    for (int64_t k = 0; k < n; ++k) cols[k] += static_cast<acc_t>(row[k]);
  }
  for (int64_t px = 0; px < Wp; ++px) {
    acc_t sum = 0;
    for (int64_t k = 0; k < p; ++k) sum += cols[px * p + k];
    out[px] = sum * scale;
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> toc_loss_forward_cpu(const at::Tensor& sr_in, const at::Tensor& hr_in,
                                                                    int64_t p, double threshold) {
  auto [Hp, Wp] = toc_check_forward(sr_in, hr_in, p);
  const at::Tensor sr = sr_in.contiguous(), hr = hr_in.contiguous();
  const int64_t B = sr.size(0), C = sr.size(1), H = sr.size(2), W = sr.size(3);
  at::Tensor loss_map = at::empty({B, 1, Hp, Wp}, sr.options());
  at::Tensor s_pool, t_pool;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, sr.scalar_type(), "toc_loss_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const auto acc_options = sr.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
    s_pool = at::empty({B, Hp, Wp}, acc_options);
    t_pool = at::empty({B, Hp, Wp}, acc_options);
    const scalar_t* s_img = sr.const_data_ptr<scalar_t>();
    const scalar_t* t_img = hr.const_data_ptr<scalar_t>();
    acc_t* s_out = s_pool.mutable_data_ptr<acc_t>();
    acc_t* t_out = t_pool.mutable_data_ptr<acc_t>();
    const acc_t scale = acc_t(1) / static_cast<acc_t>(C * p * p);
    at::parallel_for(0, B * Hp, 1, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> cols(Wp * p);
      cpu::call_isa([&]() REALIISR_LOOP {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t b = i / Hp, py = i % Hp;
          pool_patch_row(s_img + b * C * H * W, C, H, W, p, Wp, py, scale, s_out + i * Wp, cols.data());
          pool_patch_row(t_img + b * C * H * W, C, H, W, p, Wp, py, scale, t_out + i * Wp, cols.data());
        }
      });
    });
    scalar_t* loss = loss_map.mutable_data_ptr<scalar_t>();
    const acc_t thr = static_cast<acc_t>(threshold);
    at::parallel_for(0, B * Hp, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t b = i / Hp, y = i % Hp;
        const acc_t* s = s_out + b * Hp * Wp;
        const acc_t* t = t_out + b * Hp * Wp;
        for (int64_t x = 0; x < Wp; ++x) loss[i * Wp + x] = static_cast<scalar_t>(toc::patch_loss(s, t, Hp, Wp, y, x, thr));
      }
    });
  });
  return {loss_map, s_pool, t_pool};
}

at::Tensor toc_loss_backward_cpu(const at::Tensor& grad_map_in, const at::Tensor& s_pool_in,
                                 const at::Tensor& t_pool_in, int64_t p, double threshold,
                                 c10::IntArrayRef input_shape) {
  toc_check_backward(grad_map_in, s_pool_in, t_pool_in, p, input_shape);
  const int64_t B = input_shape[0], C = input_shape[1], H = input_shape[2], W = input_shape[3];
  const int64_t Hp = H / p, Wp = W / p;
  const at::Tensor s_pool = s_pool_in.contiguous(), t_pool = t_pool_in.contiguous();
  const at::Tensor grad_map = grad_map_in.to(s_pool.scalar_type()).contiguous();
  at::Tensor grad = at::empty({B, C, H, W}, grad_map_in.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, grad.scalar_type(), "toc_loss_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    TORCH_CHECK(s_pool.scalar_type() == c10::CppTypeToScalarType<acc_t>::value,
                "realiisr::toc_loss_backward: pooled maps must be ", c10::CppTypeToScalarType<acc_t>::value,
                " for a ", grad.scalar_type(), " gradient, got ", s_pool.scalar_type());
    at::Tensor grad_s = at::empty({B, Hp, Wp}, s_pool.options());
    const acc_t* s_all = s_pool.const_data_ptr<acc_t>();
    const acc_t* t_all = t_pool.const_data_ptr<acc_t>();
    const acc_t* g_all = grad_map.const_data_ptr<acc_t>();
    acc_t* gs = grad_s.mutable_data_ptr<acc_t>();
    const acc_t thr = static_cast<acc_t>(threshold);
    const acc_t scale = acc_t(1) / static_cast<acc_t>(C * p * p);
    at::parallel_for(0, B * Hp, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t b = i / Hp, y = i % Hp, off = b * Hp * Wp;
        for (int64_t x = 0; x < Wp; ++x)
          gs[i * Wp + x] = toc::patch_grad(s_all + off, t_all + off, g_all + off, Hp, Wp, y, x, thr) * scale;
      }
    });
    scalar_t* out = grad.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * C * H, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t y = r % H, b = r / (C * H);
        scalar_t* row = out + r * W;
        if (y >= Hp * p) {
          for (int64_t x = 0; x < W; ++x) row[x] = scalar_t(0);
          continue;
        }
        const acc_t* g_row = gs + (b * Hp + y / p) * Wp;
        for (int64_t px = 0; px < Wp; ++px) {
          const scalar_t v = static_cast<scalar_t>(g_row[px]);
          for (int64_t k = 0; k < p; ++k) row[px * p + k] = v;
        }
        for (int64_t x = Wp * p; x < W; ++x) row[x] = scalar_t(0);
      }
    });
  });
  return grad;
}

TORCH_LIBRARY_IMPL(realiisr, CPU, m) {
  m.impl("toc_loss_forward", &toc_loss_forward_cpu);
  m.impl("toc_loss_backward", &toc_loss_backward_cpu);
}

}  // namespace realiisr
