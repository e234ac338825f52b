#!/usr/bin/env bash
# Builds the WebAssembly package into wasm/pkg: the crate for
# wasm32-unknown-unknown (profile `wasm`), then wasm-bindgen's ES module glue
# (`--target web`: browsers, and Node.js through `initSync`), the TypeScript
# definitions, package.json and README.
#
#   bash wasm/build.sh          # the package in wasm/pkg
#   bash wasm/build.sh --apps   # and the copy the chat app uses (apps/chat/pkg, committed)
#
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli of exactly the
# version in wasm/Cargo.toml (.ci/run installs both).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' wasm/Cargo.toml)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
  echo "wasm-bindgen-cli $version is needed: cargo install wasm-bindgen-cli --version $version --locked" >&2
  exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build -p hoffnung-wasm --target wasm32-unknown-unknown --profile wasm --locked
rm -rf wasm/pkg
wasm-bindgen --target web --out-dir wasm/pkg "$target/wasm32-unknown-unknown/wasm/hoffnung_wasm.wasm"
cp wasm/package.json wasm/README.md wasm/pkg/
if [ "${1:-}" = "--apps" ]; then
  # The node compiles the chat app's files in; the test
  # `chat::the_committed_package_is_built_from_this_tree` checks this copy.
  mkdir -p apps/chat/pkg
  cp wasm/pkg/hoffnung_wasm.js wasm/pkg/hoffnung_wasm_bg.wasm apps/chat/pkg/
fi
printf 'wasm/pkg: %s bytes of wasm, %s gzipped\n' \
  "$(wc -c < wasm/pkg/hoffnung_wasm_bg.wasm)" "$(gzip -9 -c wasm/pkg/hoffnung_wasm_bg.wasm | wc -c)"
