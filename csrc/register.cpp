// Every op schema of the `realiisr` namespace, in one place. Kernels register per backend in
// csrc/ops/<backend>/<op>; fake kernels and autograd live in realiisr/ops/_registrations.py.
#include <torch/library.h>

#include <string>

#include "common/build_info.h"

namespace realiisr {
namespace {
std::string build_info_op() { return build_info_json(); }
}  // namespace

TORCH_LIBRARY(realiisr, m) {
  // JSON with the compiler, torch and CUDA versions the library was built with.
  m.def("build_info() -> str", &build_info_op);
  // Thermal-order-consistency loss (see csrc/ops/toc_loss.h).
  m.def("toc_loss_forward(Tensor sr, Tensor hr, int patch_size, float threshold) -> (Tensor, Tensor, Tensor)");
  // Conditional adaptive codebook embedding (see csrc/ops/cac_embedding.h).
  m.def("cac_embedding(Tensor idx, Tensor codebook, Tensor U, Tensor V, Tensor h, Tensor gate) -> Tensor");
  m.def(
      "cac_embedding_backward(Tensor grad, Tensor idx, Tensor codebook, Tensor U, Tensor V, Tensor h, Tensor gate) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  // The whole conditioned codebook [B, V, C] (same factors as cac_embedding, every id).
  m.def("cac_codebook(Tensor codebook, Tensor U, Tensor V, Tensor h, Tensor gate) -> Tensor");
  m.def(
      "cac_codebook_backward(Tensor grad, Tensor codebook, Tensor U, Tensor V, Tensor h, Tensor gate) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "toc_loss_backward(Tensor grad_map, Tensor s_pool, Tensor t_pool, int patch_size, float threshold, "
      "SymInt[] input_shape) -> Tensor");
  // GroupNorm followed by SiLU for inference, out of place and in place (see csrc/ops/group_norm_silu.h).
  m.def("group_norm_silu(Tensor x, int num_groups, Tensor? weight, Tensor? bias, float eps) -> Tensor");
  // The in-place form returns nothing: torch.compile functionalises custom ops only without aliased outputs.
  m.def("group_norm_silu_(Tensor(a!) x, int num_groups, Tensor? weight, Tensor? bias, float eps) -> ()");
  // Multi-scale block-causal attention (see csrc/ops/scale_attention.h).
  m.def("scale_attention(Tensor q, Tensor k, Tensor v, int[] level_ends, float scale) -> Tensor");
}

}  // namespace realiisr
