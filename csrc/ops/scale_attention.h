// Multi-scale block-causal attention (the VAR mask): a query sees every key of its own level and of all
// earlier levels. Queries are the last Lq positions of the key sequence; level_ends are the exclusive
// ends of the levels in the key sequence (a KV-cache step is one level: level_ends = [Lk]).
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

namespace realiisr {

void scale_attention_check(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, at::IntArrayRef level_ends,
                           double scale);

}  // namespace realiisr
