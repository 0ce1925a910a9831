// What this library was built with; setup.py and CMakeLists.txt pass the REALIISR_* definitions.
#pragma once

#include <string>

#ifndef REALIISR_TORCH_VERSION
#define REALIISR_TORCH_VERSION "unknown"
#endif
#ifndef REALIISR_CUDA_VERSION
#define REALIISR_CUDA_VERSION ""
#endif
#ifndef REALIISR_CUDA_ARCHS
#define REALIISR_CUDA_ARCHS ""
#endif
#ifndef REALIISR_BUILD_SYSTEM
#define REALIISR_BUILD_SYSTEM "unknown"
#endif

namespace realiisr {

inline std::string build_info_json() {
  std::string out = "{";
#ifdef REALIISR_WITH_CUDA
  out += "\"with_cuda\": true, ";
#else
  out += "\"with_cuda\": false, ";
#endif
  out += "\"torch_version\": \"" REALIISR_TORCH_VERSION "\", ";
  out += "\"cuda_version\": \"" REALIISR_CUDA_VERSION "\", ";
  out += "\"cuda_archs\": \"" REALIISR_CUDA_ARCHS "\", ";
  out += "\"build_system\": \"" REALIISR_BUILD_SYSTEM "\", ";
#if defined(__clang__)
  out += "\"compiler\": \"clang " __clang_version__ "\"";
#elif defined(__GNUC__)
  out += "\"compiler\": \"gcc " __VERSION__ "\"";
#else
  out += "\"compiler\": \"unknown\"";
#endif
  out += "}";
  return out;
}

}  // namespace realiisr
