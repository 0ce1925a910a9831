// One conditioned code vector, row = E[v] + g * V (U[v] * h[b]), accumulated in acc_t: the inner loop of both
// CPU CAC kernels (per token, and for the whole codebook).
#pragma once

#include <cstdint>
#include <vector>

namespace realiisr {

template <typename scalar_t, typename acc_t>
inline void cac_row(const scalar_t* e_row, const scalar_t* u_row, const scalar_t* h_row, const scalar_t* vt, acc_t g,
                    int64_t r, int64_t C, std::vector<acc_t>& uh, std::vector<acc_t>& row, scalar_t* out_row) {
  for (int64_t k = 0; k < r; ++k) uh[k] = g * static_cast<acc_t>(u_row[k]) * static_cast<acc_t>(h_row[k]);
  for (int64_t c = 0; c < C; ++c) row[c] = static_cast<acc_t>(e_row[c]);
  for (int64_t k = 0; k < r; ++k) {  // vt is V^T [r, C]: the inner loop runs along C
    const scalar_t* vk = vt + k * C;
    const acc_t w = uh[k];
    for (int64_t c = 0; c < C; ++c) row[c] += w * static_cast<acc_t>(vk[c]);
  }
  for (int64_t c = 0; c < C; ++c) out_row[c] = static_cast<scalar_t>(row[c]);
}

}  // namespace realiisr
