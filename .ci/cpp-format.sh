#!/usr/bin/env bash
# Checks that every tracked C++ file matches .clang-format; prints the differences and fails if
# not. Fix them with: clang-format -i --style=file <file>
# clang-format 14 (Debian 12) and 23 (the clang-format wheel) format these files the same way.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mapfile -t files < <(git ls-files '*.hpp' '*.cpp' '*.h' '*.cc')
if ! clang-format --style=file --dry-run --Werror "${files[@]}"; then
  echo "some C++ files are not formatted: run clang-format -i --style=file on them" >&2
  exit 1
fi
echo "clang-format: ${#files[@]} files formatted"
