// CAC embedding forward on the CPU: one pass over the output rows, the low-rank offset computed in place.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

#include "ops/cac_embedding.h"
#include "ops/cpu/cac_row.h"

namespace realiisr {

at::Tensor cac_embedding_cpu(const at::Tensor& idx_in, const at::Tensor& codebook_in, const at::Tensor& U_in,
                             const at::Tensor& V_in, const at::Tensor& h_in, const at::Tensor& gate) {
  cac_check(idx_in, codebook_in, U_in, V_in, h_in, gate);
  const at::Tensor idx = idx_in.contiguous(), E = codebook_in.contiguous(), U = U_in.contiguous();
  const at::Tensor Vt = V_in.t().contiguous();  // [r, C]: the inner loop runs along C
  const at::Tensor h = h_in.contiguous();
  const int64_t B = idx.size(0), L = idx.size(1), C = E.size(1), r = U.size(1);
  at::Tensor out = at::empty({B, L, C}, E.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, E.scalar_type(), "cac_embedding_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t g = std::tanh(static_cast<acc_t>(gate.item<double>()));
    const int64_t* ids = idx.const_data_ptr<int64_t>();
    const scalar_t* e = E.const_data_ptr<scalar_t>();
    const scalar_t* u = U.const_data_ptr<scalar_t>();
    const scalar_t* vt = Vt.const_data_ptr<scalar_t>();
    const scalar_t* hh = h.const_data_ptr<scalar_t>();
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * L, 64, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> uh(r), row(C);
      for (int64_t n = begin; n < end; ++n) {
        const int64_t i = ids[n], b = n / L;
        cac_row(e + i * C, u + i * r, hh + b * r, vt, g, r, C, uh, row, o + n * C);
      }
    });
  });
  return out;
}

TORCH_LIBRARY_IMPL(realiisr, CPU, m) { m.impl("cac_embedding", &cac_embedding_cpu); }

}  // namespace realiisr
