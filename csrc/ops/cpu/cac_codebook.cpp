// The whole conditioned codebook on the CPU, out[b, v, :] = E[v, :] + tanh(a) * V (U[v, :] * h[b, :]), in one
// pass over the output (the eager form makes three: the low-rank product, the gate, the add).
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

at::Tensor cac_codebook_cpu(const at::Tensor& codebook_in, const at::Tensor& U_in, const at::Tensor& V_in,
                            const at::Tensor& h_in, const at::Tensor& gate) {
  cac_codebook_check(codebook_in, U_in, V_in, h_in, gate);
  const at::Tensor E = codebook_in.contiguous(), U = U_in.contiguous(), h = h_in.contiguous();
  const at::Tensor Vt = V_in.t().contiguous();  // [r, C]: the inner loop runs along C
  const int64_t B = h.size(0), vocab = E.size(0), C = E.size(1), r = U.size(1);
  at::Tensor out = at::empty({B, vocab, C}, E.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, E.scalar_type(), "cac_codebook_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const acc_t g = std::tanh(static_cast<acc_t>(gate.item<double>()));
    const scalar_t* e = E.const_data_ptr<scalar_t>();
    const scalar_t* u = U.const_data_ptr<scalar_t>();
    const scalar_t* vt = Vt.const_data_ptr<scalar_t>();
    const scalar_t* hh = h.const_data_ptr<scalar_t>();
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * vocab, 256, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> uh(r), row(C);
      for (int64_t n = begin; n < end; ++n) {
        const int64_t b = n / vocab, v = n % vocab;
        cac_row(e + v * C, u + v * r, hh + b * r, vt, g, r, C, uh, row, o + n * C);
      }
    });
  });
  return out;
}

TORCH_LIBRARY_IMPL(realiisr, CPU, m) { m.impl("cac_codebook", &cac_codebook_cpu); }

}  // namespace realiisr
