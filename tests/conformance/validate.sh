#!/usr/bin/env bash
# Validates every state machine definition with asl-validator (npm), installed
# into a scratch prefix so nothing is added to the repository.
#   tests/conformance/validate.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="${ASL_VALIDATOR_PREFIX:-/tmp/likeness-asl-validator}"
if [ ! -x "$prefix/node_modules/.bin/asl-validator" ]; then
  npm install --silent --prefix "$prefix" asl-validator@4 >/dev/null
fi
args=()
for f in "$root"/infra/statemachine/*.asl.json "$root"/infra/statemachine/conformance/*.asl.json; do
  args+=(--json-path "$f")
done
"$prefix/node_modules/.bin/asl-validator" "${args[@]}"
