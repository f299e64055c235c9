#!/usr/bin/env bash
# Build the extension modules with AddressSanitizer and UndefinedBehaviorSanitizer and run the
# test suite against them.
#
# Usage: tools/sanitize.sh [PYTHON] [-- PYTEST_ARGS...]
#   PYTHON       interpreter with the build and test requirements installed (default: python3)
#   PYTEST_ARGS  passed to pytest (default: the whole suite, tests/)
# Environment: SQ_SANITIZE_BUILD sets the build directory (default: build/sanitize).
#
# The modules are built with CMake (option SQ_SANITIZE, without link-time optimisation, which
# makes the instrumented link take minutes) into the build directory and staged
# there next to a copy of the Python sources, so the installed package is not touched. Python
# itself is not instrumented, so the ASan runtime is preloaded; leak detection is off because
# the interpreter keeps memory alive at exit. Any ASan or UBSan report aborts the run with a
# non-zero status.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="python3"
if [[ $# -gt 0 && "$1" != "--" ]]; then
  python="$1"
  shift
fi
if [[ $# -gt 0 && "$1" == "--" ]]; then
  shift
fi
pytest_args=("$@")
if [[ ${#pytest_args[@]} -eq 0 ]]; then
  pytest_args=("$root/tests")
fi

build="${SQ_SANITIZE_BUILD:-$root/build/sanitize}"
stage="$build/site"

cmake -S "$root" -B "$build" \
  -DSQ_BUILD_PYTHON=ON -DSQ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF \
  -DPython_EXECUTABLE="$("$python" -c 'import sys; print(sys.executable)')" \
  -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" >/dev/null
cmake --build "$build" -j "${SQ_SANITIZE_JOBS:-2}"

rm -rf "$stage"
mkdir -p "$stage"
cp -r "$root/python/stochastic_quantization" "$stage/"
find "$stage" -name '*.so' -delete
find "$stage" -name '__pycache__' -prune -exec rm -rf {} +
cp "$build"/_core*.so "$stage/stochastic_quantization/"

# libstdc++ is preloaded with the ASan runtime: Python does not link it, and ASan resolves its
# __cxa_throw interceptor at start-up, so without it the first C++ exception aborts.
libasan="$("${CXX:-g++}" -print-file-name=libasan.so)"
libstdcxx="$("${CXX:-g++}" -print-file-name=libstdc++.so)"
for library in "$libasan" "$libstdcxx"; do
  if [[ ! -e "$library" ]]; then
    echo "sanitize.sh: $library not found; install the GCC sanitizer runtime and libstdc++" >&2
    exit 2
  fi
done

cd "$root"
echo "sanitize.sh: running pytest ${pytest_args[*]} with $(ls "$stage"/stochastic_quantization/_core*.so | xargs -n1 basename | tr '\n' ' ')"
env LD_PRELOAD="$libasan $libstdcxx" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:strict_string_checks=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  PYTHONPATH="$stage${PYTHONPATH:+:$PYTHONPATH}" \
  "$python" -m pytest -p no:cacheprovider "${pytest_args[@]}"
