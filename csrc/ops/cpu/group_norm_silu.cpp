// GroupNorm + SiLU on the CPU, for NCHW-contiguous and channels-last activations (see group_norm_silu.h).
// The statistics use sums of (x - K) and (x - K)^2 with K the channel's first value, in float over at most
// kFloatRun values and in double above that, so a large mean does not cancel the variance away.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/bit_cast.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/cpu_isa.h"
#include "ops/group_norm_silu.h"

namespace realiisr {
namespace {

constexpr int64_t kFloatRun = 256;  // values summed in float before the sum moves to double
constexpr int kLanes = 16;          // independent accumulators along a contiguous plane

// Loads and stores in the accumulation type, written so that loops over them vectorise (c10's bfloat16
// conversion goes through a branchy scalar path).
REALIISR_INLINE float load(const float* p) { return *p; }
REALIISR_INLINE double load(const double* p) { return *p; }
REALIISR_INLINE float load(const c10::BFloat16* p) { return c10::bit_cast<float>(uint32_t(p->x) << 16); }
REALIISR_INLINE float load(const c10::Half* p) { return static_cast<float>(*p); }
REALIISR_INLINE void store(float* p, float v) { *p = v; }
REALIISR_INLINE void store(double* p, double v) { *p = v; }
REALIISR_INLINE void store(c10::BFloat16* p, float v) {  // round to nearest even, quiet NaN: as c10::BFloat16(v)
  const uint32_t u = c10::bit_cast<uint32_t>(v);
  p->x = v != v ? uint16_t(0x7FC0) : uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
REALIISR_INLINE void store(c10::Half* p, float v) { *p = c10::Half(v); }

// exp(x) for x in [-87, 0] (Cephes polynomial, ~2 ulp), from plain arithmetic so that the loops around it
// vectorise: std::exp does not without -ffast-math.
REALIISR_INLINE float exp_nonpositive(float x) {
  constexpr float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const float t = x * 1.44269504088896341f + magic;
  const float n = t - magic;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const int32_t k = c10::bit_cast<int32_t>(t) - c10::bit_cast<int32_t>(magic);
  return (p * r * r + r + 1.0f) * c10::bit_cast<float>((k + 127) << 23);
}

// silu(v) = v * sigmoid(v) from e = exp(-|v|), which cannot overflow. -|v| is clamped at -87 (where 2^n is
// still a normal float) by an integer min on its bits (for negative floats a larger magnitude is a larger
// signed integer): float compares there made GCC evaluate the clamped cases separately, with a second
// division. A NaN v comes out NaN through the final product.
template <typename acc_t>
REALIISR_INLINE acc_t silu(acc_t v) {
  if constexpr (std::is_same_v<acc_t, double>) {
    return v / (1.0 + std::exp(-v));
  } else {
    const int32_t neg_abs = c10::bit_cast<int32_t>(v) | std::numeric_limits<int32_t>::min();
    const float e = exp_nonpositive(c10::bit_cast<float>(std::min(neg_abs, c10::bit_cast<int32_t>(-87.0f))));
    const float q = 1.0f / (1.0f + e);
    return v * (v < 0.0f ? e * q : q);
  }
}

// Shifted sums of one image, channels last ([S, C] rows): s1[c] += sum(x - K_c), s2[c] += sum((x - K_c)^2) over
// rows [r0, r1).
template <typename scalar_t, typename acc_t>
REALIISR_INLINE void sums_channels_last(const scalar_t* img, int64_t C, int64_t r0, int64_t r1, const acc_t* shift,
                                        acc_t* f1, acc_t* f2, double* s1, double* s2) {
  for (int64_t r = r0; r < r1; r += kFloatRun) {
    const int64_t end = std::min(r1, r + kFloatRun);
    std::fill(f1, f1 + C, acc_t(0));
    std::fill(f2, f2 + C, acc_t(0));
    for (int64_t row = r; row < end; ++row) {
      const scalar_t* x = img + row * C;
#pragma GCC ivdep
      for (int64_t c = 0; c < C; ++c) {
        const acc_t d = load(x + c) - shift[c];
        f1[c] += d;
        f2[c] += d * d;
      }
    }
    for (int64_t c = 0; c < C; ++c) {
      s1[c] += f1[c];
      s2[c] += f2[c];
    }
  }
}

// The same for one contiguous plane of one channel, positions [j0, j1).
template <typename scalar_t, typename acc_t>
REALIISR_INLINE void sums_plane(const scalar_t* plane, int64_t j0, int64_t j1, acc_t shift, double& s1, double& s2) {
  int64_t j = j0;
  while (j < j1) {
    const int64_t end = std::min(j1, j + kFloatRun * kLanes);
    acc_t f1[kLanes] = {}, f2[kLanes] = {};
    for (; j + kLanes <= end; j += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const acc_t d = load(plane + j + l) - shift;
        f1[l] += d;
        f2[l] += d * d;
      }
    }
    for (; j < end; ++j) {
      const acc_t d = load(plane + j) - shift;
      f1[0] += d;
      f2[0] += d * d;
    }
    for (int l = 0; l < kLanes; ++l) {
      s1 += f1[l];
      s2 += f2[l];
    }
  }
}

// How many pieces to cut each of `units` units of `size` values into, so both threads get work.
int64_t splits_for(int64_t units, int64_t size) {
  const int64_t want = (4 * at::get_num_threads() + units - 1) / units;
  return std::max<int64_t>(1, std::min(want, (size + kFloatRun - 1) / kFloatRun));
}

template <typename scalar_t>
void group_norm_silu_kernel(const at::Tensor& x, at::Tensor& y, int64_t G, const std::optional<at::Tensor>& weight,
                            const std::optional<at::Tensor>& bias, double eps, bool channels_last) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t N = x.size(0), C = x.size(1), S = C == 0 || N == 0 ? 0 : x.numel() / (N * C), Cg = C / G;
  if (x.numel() == 0) return;
  const scalar_t* in = x.const_data_ptr<scalar_t>();
  scalar_t* out = y.mutable_data_ptr<scalar_t>();

  // Per-(image, channel) shift, then shifted sums over pieces of the image (rows) or of each plane.
  std::vector<acc_t> shift(N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) shift[n * C + c] = load(in + (channels_last ? n * S * C + c : (n * C + c) * S));
  const int64_t units = channels_last ? N : N * C;
  const int64_t pieces = splits_for(units, S);
  std::vector<double> s1(units * pieces * (channels_last ? C : 1), 0.0), s2(s1.size(), 0.0);
  at::parallel_for(0, units * pieces, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> f1(C), f2(C);
    cpu::call_isa_wide([&]() REALIISR_LOOP {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t unit = task / pieces, piece = task % pieces;
        const int64_t j0 = S * piece / pieces, j1 = S * (piece + 1) / pieces;
        if (channels_last) {
          sums_channels_last(in + unit * S * C, C, j0, j1, shift.data() + unit * C, f1.data(), f2.data(),
                             s1.data() + task * C, s2.data() + task * C);
        } else {
          sums_plane(in + unit * S, j0, j1, shift[unit], s1[task], s2[task]);
        }
      }
    });
  });

  // Group statistics from the per-channel ones (Chan et al.'s pairwise combination), then one scale and one
  // shift per (image, channel) with the affine parameters folded in.
  const at::Tensor w = weight.has_value() ? weight->to(at::kDouble).contiguous() : at::Tensor();
  const at::Tensor b = bias.has_value() ? bias->to(at::kDouble).contiguous() : at::Tensor();
  const double* wp = w.defined() ? w.const_data_ptr<double>() : nullptr;
  const double* bp = b.defined() ? b.const_data_ptr<double>() : nullptr;
  std::vector<acc_t> scale(N * C), offset(N * C);
  std::vector<double> mean_c(C), m2_c(C);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      double t1 = 0, t2 = 0;
      for (int64_t piece = 0; piece < pieces; ++piece) {
        const int64_t i = channels_last ? (n * pieces + piece) * C + c : (n * C + c) * pieces + piece;
        t1 += s1[i];
        t2 += s2[i];
      }
      mean_c[c] = static_cast<double>(shift[n * C + c]) + t1 / S;
      m2_c[c] = std::max(0.0, t2 - t1 * t1 / S);
    }
    for (int64_t g = 0; g < G; ++g) {
      double mean = 0, m2 = 0;
      for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) mean += mean_c[c];
      mean /= Cg;
      for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) m2 += m2_c[c] + S * (mean_c[c] - mean) * (mean_c[c] - mean);
      const double rstd = 1.0 / std::sqrt(m2 / static_cast<double>(S * Cg) + eps);
      for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
        const double a = rstd * (wp ? wp[c] : 1.0);
        scale[n * C + c] = static_cast<acc_t>(a);
        offset[n * C + c] = static_cast<acc_t>((bp ? bp[c] : 0.0) - mean * a);
      }
    }
  }

  // y = silu(x * scale + offset): a streaming pass, rows of C values (channels last) or planes.
  const int64_t grain = std::max<int64_t>(1, 16384 / (channels_last ? C : S));
  at::parallel_for(0, channels_last ? N * S : N * C, grain, [&](int64_t begin, int64_t end) {
    cpu::call_isa_wide([&]() REALIISR_LOOP {
      if (channels_last) {
        for (int64_t r = begin; r < end; ++r) {
          const acc_t* a = scale.data() + (r / S) * C;
          const acc_t* o = offset.data() + (r / S) * C;
          const scalar_t* src = in + r * C;
          scalar_t* dst = out + r * C;
#pragma GCC ivdep  // dst is src in place: each value is read before its own slot is written
          for (int64_t c = 0; c < C; ++c) store(dst + c, silu(load(src + c) * a[c] + o[c]));
        }
      } else {
        for (int64_t plane = begin; plane < end; ++plane) {
          const acc_t a = scale[plane], o = offset[plane];
          const scalar_t* src = in + plane * S;
          scalar_t* dst = out + plane * S;
#pragma GCC ivdep
          for (int64_t j = 0; j < S; ++j) store(dst + j, silu(load(src + j) * a + o));
        }
      }
    });
  });
}

// Whether x can be read as channels last (only a 4-D tensor that is not also plain contiguous, where both
// readings would agree).
bool reads_channels_last(const at::Tensor& x) {
  return x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

void run(const at::Tensor& x, at::Tensor& y, int64_t num_groups, const std::optional<at::Tensor>& weight,
         const std::optional<at::Tensor>& bias, double eps) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "group_norm_silu_cpu", [&] {
    group_norm_silu_kernel<scalar_t>(x, y, num_groups, weight, bias, eps, reads_channels_last(x));
  });
}

}  // namespace

at::Tensor group_norm_silu_cpu(const at::Tensor& x_in, int64_t num_groups, const std::optional<at::Tensor>& weight,
                               const std::optional<at::Tensor>& bias, double eps) {
  group_norm_silu_check(x_in, num_groups, weight, bias, eps, "realiisr::group_norm_silu");
  const at::Tensor x = reads_channels_last(x_in) ? x_in : x_in.contiguous();
  at::Tensor y = at::empty_like(x);  // keeps x's memory format
  run(x, y, num_groups, weight, bias, eps);
  return y;
}

void group_norm_silu_inplace_cpu(at::Tensor& x, int64_t num_groups, const std::optional<at::Tensor>& weight,
                                 const std::optional<at::Tensor>& bias, double eps) {
  group_norm_silu_check(x, num_groups, weight, bias, eps, "realiisr::group_norm_silu_");
  if (reads_channels_last(x) || x.is_contiguous()) {
    run(x, x, num_groups, weight, bias, eps);
  } else {  // a strided view: work on a dense copy and write the result back through the view
    at::Tensor dense = x.contiguous();
    run(dense, dense, num_groups, weight, bias, eps);
    x.copy_(dense);
  }
}

TORCH_LIBRARY_IMPL(realiisr, CPU, m) {
  m.impl("group_norm_silu", &group_norm_silu_cpu);
  m.impl("group_norm_silu_", &group_norm_silu_inplace_cpu);
}

}  // namespace realiisr
