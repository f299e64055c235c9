#!/usr/bin/env bash
# Builds the C++ package and runs its CTest tests, among them consumer_example: install into a
# temporary prefix, then build and run cpp/examples against that prefix only. Then checks the
# formatting of the C++ files listed in .ci/cpp-format.sh.
#
# On Debian or Ubuntu it installs what is missing (cmake, g++, libeigen3-dev, clang-format)
# with apt-get, as root or through sudo. Set SQ_CPP_BUILD_DIR to build elsewhere than
# build/cpp-ci.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SQ_CPP_BUILD_DIR:-$root/build/cpp-ci}"

have_eigen() {
  local dir
  for dir in /usr/share/eigen3/cmake /usr/lib/cmake/eigen3 /usr/local/share/eigen3/cmake; do
    [ -f "$dir/Eigen3Config.cmake" ] && return 0
  done
  return 1
}

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || command -v c++ >/dev/null || missing+=(g++)
command -v make >/dev/null || command -v ninja >/dev/null || missing+=(make)
have_eigen || missing+=(libeigen3-dev)
command -v clang-format >/dev/null || missing+=(clang-format)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

cmake -S "$root" -B "$build" -DSQ_BUILD_PYTHON=OFF -DSQ_INSTALL=ON -DSQ_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure

"$root/.ci/cpp-format.sh"
