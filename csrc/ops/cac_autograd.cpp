// Autograd for the two CAC ops, in C++ for every backend. The Python form (torch.library.register_autograd)
// measured ~140 us of interpreter time per forward on an H200's host (benchmarks/op_overheads.py), more than
// the forward and backward kernels together; this one saves the inputs and calls the backward op directly.
// Fake kernels stay in realiisr/ops/_registrations.py, so torch.compile traces through both directions.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <functional>
#include <tuple>

#include "ops/cac_embedding.h"

namespace realiisr {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <typename Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

using Grads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

// The five factor gradients, undefined where the factor needs none; nothing runs when none does.
variable_list factor_grads(AutogradContext* ctx, size_t first_factor, const std::function<Grads()>& compute) {
  bool any = false;
  for (size_t i = 0; i < 5; ++i) any = any || ctx->needs_input_grad(first_factor + i);
  variable_list out(first_factor + 5);
  if (!any) return out;
  const auto [dE, dU, dV, dh, da] = compute();
  const at::Tensor grads[] = {dE, dU, dV, dh, da};
  for (size_t i = 0; i < 5; ++i)
    if (ctx->needs_input_grad(first_factor + i)) out[first_factor + i] = grads[i];
  return out;
}

class CacEmbeddingFunction : public torch::autograd::Function<CacEmbeddingFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& idx, const at::Tensor& codebook,
                            const at::Tensor& U, const at::Tensor& V, const at::Tensor& h, const at::Tensor& gate) {
    static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                              const at::Tensor&, const at::Tensor&, const at::Tensor&)>(
        "realiisr::cac_embedding");
    ctx->save_for_backward({idx, codebook, U, V, h, gate});
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(idx, codebook, U, V, h, gate);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op = find_op<Grads(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         const at::Tensor&, const at::Tensor&, const at::Tensor&)>(
        "realiisr::cac_embedding_backward");
    const variable_list saved = ctx->get_saved_variables();
    return factor_grads(ctx, 1, [&] {
      return op.call(grad_outputs[0], saved[0], saved[1], saved[2], saved[3], saved[4], saved[5]);
    });
  }
};

class CacCodebookFunction : public torch::autograd::Function<CacCodebookFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& codebook, const at::Tensor& U,
                            const at::Tensor& V, const at::Tensor& h, const at::Tensor& gate) {
    static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                              const at::Tensor&, const at::Tensor&)>("realiisr::cac_codebook");
    ctx->save_for_backward({codebook, U, V, h, gate});
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return op.call(codebook, U, V, h, gate);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op = find_op<Grads(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         const at::Tensor&, const at::Tensor&)>("realiisr::cac_codebook_backward");
    const variable_list saved = ctx->get_saved_variables();
    return factor_grads(ctx, 0, [&] {
      return op.call(grad_outputs[0], saved[0], saved[1], saved[2], saved[3], saved[4]);
    });
  }
};

at::Tensor cac_embedding_autograd(const at::Tensor& idx, const at::Tensor& codebook, const at::Tensor& U,
                                  const at::Tensor& V, const at::Tensor& h, const at::Tensor& gate) {
  return CacEmbeddingFunction::apply(idx, codebook, U, V, h, gate);
}

at::Tensor cac_codebook_autograd(const at::Tensor& codebook, const at::Tensor& U, const at::Tensor& V,
                                 const at::Tensor& h, const at::Tensor& gate) {
  return CacCodebookFunction::apply(codebook, U, V, h, gate);
}

}  // namespace

TORCH_LIBRARY_IMPL(realiisr, Autograd, m) {
  m.impl("cac_embedding", &cac_embedding_autograd);
  m.impl("cac_codebook", &cac_codebook_autograd);
}

}  // namespace realiisr
