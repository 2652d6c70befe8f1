#!/usr/bin/env bash
# Fail if a SIMD tier's kernel object defines a global or weak symbol outside fastoptim::<tier>:
# the linker would merge it with another tier's copy, and an AVX-512 body could run on any CPU.
# Fail too if it holds an out-of-line copy of a format's load or store (see slot.hpp).
# Usage: check_tier_symbols.sh BUILD_DIR
set -euo pipefail
status=0 found=0
while IFS= read -r obj; do
  tier=$(echo "$obj" | sed -n 's|.*/fastoptim_kernels_\([a-z0-9]*\)\.dir/.*|\1|p')
  [ -n "$tier" ] || continue
  found=1
  prefix="_ZN9fastoptim${#tier}${tier}"   # mangled names of fastoptim::<tier>::...
  local_prefix="_ZZN9fastoptim${#tier}${tier}"   # ... and of entities local to its functions (lambdas)
  # DW.ref.* are the exception-handling personality pointers: data, the same in every unit.
  leaks=$(nm --defined-only --extern-only "$obj" | awk '{ print $3 }' | grep -v -e "^${prefix}" -e "^${local_prefix}" -e '^DW\.ref\.' || true)
  if [ -n "$leaks" ]; then
    echo "tier $tier leaks symbols outside fastoptim::${tier}:"; echo "$leaks" | c++filt; status=1
  else
    echo "tier $tier: symbols confined to fastoptim::${tier}"
  fi
  # The formats' loads and stores (slot.hpp) must inline into the rules' loops: one left out of
  # line is a call per element, and the loop no longer vectorises (a 5x slower step, once).
  calls=$(nm -C "$obj" | grep -E "::(load|store)\(" || true)
  if [ -n "$calls" ]; then
    echo "tier $tier calls a format's load or store out of line:"; echo "$calls"; status=1
  fi
done < <(find "$1" -path '*fastoptim_kernels_*' -name 'kernels.cpp.o')
[ "$found" = 1 ] || { echo "no tier objects under $1"; exit 1; }
exit $status
