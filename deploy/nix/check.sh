# What CI can check of the Nix packaging without Nix network access (deploy/README.md says what it
# cannot): every Nix file parses; flake.lock is the complete lock of flake.nix's inputs (Nix reads
# it offline without wanting to change it); and for x86_64-linux the packages npm-lock.nix picks
# from package-lock.json are exactly those npm installed into node_modules, at the lock's versions.
# Run after the dependencies are installed: `bash deploy/nix/check.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
for file in flake.nix deploy/nix/*.nix deploy/nixos/*.nix; do
  nix-instantiate --parse "$file" >/dev/null
done
echo "nix files parse"

# A path: copy, so that the check reads the files of this checkout, committed or not.
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp flake.nix flake.lock package.json package-lock.json "$copy/"
nix --extra-experimental-features "nix-command flakes" flake metadata --offline --no-update-lock-file \
  --json "path:$copy" | node -e '
    const lock = JSON.parse(require("fs").readFileSync(0, "utf8")).locks.nodes.nixpkgs.locked
    if (!/^[0-9a-f]{40}$/.test(lock.rev) || !/^sha256-[A-Za-z0-9+/]{43}=$/.test(lock.narHash)) process.exit(1)
    console.log(`flake.lock: nixpkgs ${lock.rev} ${lock.narHash}`)'

nix-instantiate --eval --strict --json -E \
  'map (p: { inherit (p) path version; }) (import ./deploy/nix/npm-lock.nix { lockFile = ./package-lock.json; system = "x86_64-linux"; includeDev = true; })' |
  node -e '
    const fs = require("fs")
    const picked = JSON.parse(fs.readFileSync(0, "utf8"))
    const lock = require("./package-lock.json").packages
    const installed = Object.keys(lock).filter((p) => p && fs.existsSync(`${p}/package.json`))
    const byPath = new Map(picked.map((p) => [p.path, p.version]))
    const wrong = installed.filter((p) => byPath.get(p) !== JSON.parse(fs.readFileSync(`${p}/package.json`, "utf8")).version)
    const extra = picked.filter((p) => !installed.includes(p.path)).map((p) => p.path)
    if (wrong.length || extra.length) {
      console.error("npm-lock.nix differs from node_modules:", { notPickedOrOtherVersion: wrong, notInstalled: extra })
      process.exit(1)
    }
    console.log(`npm-lock.nix: the ${picked.length} packages npm installed for x86_64-linux, same versions`)'
