// 256-bit vectors through the GCC/Clang vector extensions.
//
// The same source compiles to AVX2 + FMA in the `_core_avx2` module (-mavx2 -mfma) and to pairs
// of SSE2 instructions in the portable `_core` module, so no intrinsics or run-time dispatch live
// in the headers. Other compilers get SQ_SIMD == 0 and the scalar loops beside each kernel.
#pragma once

#include <cstdint>
#include <cstring>

#include "parallel.hpp"

#if defined(__GNUC__) || defined(__clang__)
#define SQ_SIMD 1
// Small kernels on the per-sample critical path, inlined so their loads and the caller's
// stores can overlap.
#define SQ_INLINE inline __attribute__((always_inline))
#else
#define SQ_SIMD 0
#define SQ_INLINE inline
#endif

#if SQ_SIMD && defined(__GNUC__) && !defined(__clang__)
// The 256-bit types only cross inline functions of one module, so the note that their ABI
// differs between -mavx and SSE2 builds does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace sq {
namespace simd {

#if SQ_SIMD
template <class T>
struct Traits;

template <>
struct Traits<float> {
  typedef float Vec __attribute__((vector_size(32)));
  typedef std::int32_t Lanes __attribute__((vector_size(32)));  // lane masks and indices
  static constexpr Index width = 8;
};

template <>
struct Traits<double> {
  typedef double Vec __attribute__((vector_size(32)));
  typedef std::int64_t Lanes __attribute__((vector_size(32)));
  static constexpr Index width = 4;
};

template <class T>
using Vec = typename Traits<T>::Vec;
template <class T>
using Lanes = typename Traits<T>::Lanes;

template <class T>
inline Vec<T> load(const T* data) {
  Vec<T> value;
  std::memcpy(&value, data, sizeof value);
  return value;
}

template <class T>
inline void store(T* data, const Vec<T>& value) {
  std::memcpy(data, &value, sizeof value);
}

// Lane-by-lane construction: `Vec<T>{} + value` would keep a real addition (0 + -0 is +0),
// which costs a dependent add before every broadcast in the dot-product tiles.
inline Vec<float> broadcast(float value) {
  return Vec<float>{value, value, value, value, value, value, value, value};
}

inline Vec<double> broadcast(double value) { return Vec<double>{value, value, value, value}; }

// Lanes 0, 1, ..., width - 1.
template <class T>
inline Lanes<T> lane_ids() {
  Lanes<T> ids{};
  for (Index lane = 0; lane < Traits<T>::width; ++lane) ids[lane] = static_cast<decltype(ids[0] + 0)>(lane);
  return ids;
}
#endif

}  // namespace simd
}  // namespace sq
