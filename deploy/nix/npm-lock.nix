# The packages of package-lock.json (lockfile v3) to place under node_modules for one system: each
# with the registry tarball it comes from and the lock's own integrity hash, so no hash of the
# whole tree has to be computed or kept (npm computed every hash when it wrote the lock).
# Builtins only: `nix-instantiate --eval` runs it without nixpkgs (see deploy/README.md).
{
  lockFile,
  system,
  # false: only what the running node needs (npm's --omit=dev)
  includeDev,
  registry ? "https://registry.npmjs.org",
}:
let
  lock = builtins.fromJSON (builtins.readFile lockFile);

  platforms = {
    x86_64-linux = { os = "linux"; cpu = "x64"; libc = "glibc"; };
    aarch64-linux = { os = "linux"; cpu = "arm64"; libc = "glibc"; };
  };
  platform = platforms.${system} or (throw "npm-lock.nix: no npm platform known for ${system}");

  # npm's rule for `os`, `cpu` and `libc`: absent or empty allows every value; a value listed as
  # "!x" is refused; otherwise, when plain values are listed, the value must be one of them.
  allows =
    list: value:
    let
      plain = builtins.filter (x: builtins.substring 0 1 x != "!") list;
    in
    !(builtins.elem "!${value}" list) && (plain == [ ] || builtins.elem value plain);

  fits =
    entry:
    allows (entry.os or [ ]) platform.os
    && allows (entry.cpu or [ ]) platform.cpu
    && allows (entry.libc or [ ]) platform.libc;

  last = list: builtins.elemAt list (builtins.length list - 1);
  # "node_modules/a/node_modules/@s/b" -> "@s/b" (an aliased entry names its real package)
  nameOf = path: entry: entry.name or (last (builtins.split "node_modules/" path));
  # the lock may hold several hashes separated by spaces; the first is npm's own choice
  firstHash = integrity: builtins.head (builtins.split " " integrity);

  wanted =
    path: entry:
    path != ""
    && !(entry.link or false)
    && !(entry.inBundle or false) # comes inside its parent's tarball
    && (includeDev || !(entry.dev or false))
    && fits entry;

  toPackage =
    path: entry:
    let
      name = nameOf path entry;
    in
    {
      inherit path name;
      inherit (entry) version;
      url = "${registry}/${name}/-/${baseNameOf name}-${entry.version}.tgz";
      hash =
        if entry ? integrity then
          firstHash entry.integrity
        else
          throw "npm-lock.nix: ${path} has no integrity in package-lock.json";
    };
in
builtins.attrValues (
  builtins.mapAttrs toPackage (
    builtins.removeAttrs lock.packages (
      builtins.filter (path: !(wanted path lock.packages.${path})) (builtins.attrNames lock.packages)
    )
  )
)
