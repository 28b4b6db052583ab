# Lays out node_modules from a manifest of "PATH TARBALL" lines (PATH as in package-lock.json, e.g.
# node_modules/a/node_modules/b), the way npm does from the same lock with scripts off: each tarball
# unpacked into its path without its top folder. No .bin links: the build runs tsc through node.
# Run as `bash unpack-node-modules.sh MANIFEST OUT` (no shebang: the Nix sandbox has no /usr/bin/env).
set -euo pipefail
manifest=$1
out=$2
mkdir -p "$out"
while read -r path tarball; do
  [ -n "$path" ] || continue
  mkdir -p "$out/$path"
  tar -xzf "$tarball" -C "$out/$path" --strip-components=1 --no-same-owner --no-same-permissions
done <"$manifest"
# npm makes every file readable and every folder searchable whatever the tarball says
chmod -R u+rw,a+rX "$out"
