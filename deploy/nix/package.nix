# BEDS built from this checkout: dist/ by tsc, with config/, templates/ and schema/ beside it (the
# node finds them beside the build), the production node_modules, bin/beds-node, which runs the
# node (dist/main.js) on the given Node, bin/beds, the operator's CLI (dist/cli/main.js: the
# package.json bin of the same name), and bin/beds-schema-apply.
{
  lib,
  stdenvNoCC,
  fetchurl,
  makeWrapper,
  nodejs,
  # the Nix system string, which picks the npm platform packages (os/cpu/libc in the lock)
  system,
}:
let
  root = ../..;
  lockFile = root + "/package-lock.json";
  version = (lib.importJSON (root + "/package.json")).version;

  # One fixed-output fetch per locked package, checked against the integrity npm wrote into the
  # lock; the tree is then laid out offline. So there is no hash of the whole tree to keep, and
  # x86_64-linux and aarch64-linux each get the platform packages the lock lists for them.
  nodeModules =
    { name, includeDev }:
    let
      packages = import ./npm-lock.nix { inherit lockFile system includeDev; };
      manifest = lib.concatMapStrings (p: "${p.path} ${fetchurl { inherit (p) url hash; }}\n") packages;
    in
    stdenvNoCC.mkDerivation {
      inherit name manifest;
      passAsFile = [ "manifest" ];
      dontUnpack = true;
      buildCommand = ''bash ${./unpack-node-modules.sh} "$manifestPath" "$out"'';
    };

  buildModules = nodeModules {
    name = "beds-node-modules-build-${version}";
    includeDev = true;
  };
  runtimeModules = nodeModules {
    name = "beds-node-modules-${version}";
    includeDev = false;
  };
in
stdenvNoCC.mkDerivation {
  pname = "beds";
  inherit version;

  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (root + "/src")
      (root + "/config")
      (root + "/templates")
      (root + "/schema")
      (root + "/package.json")
      (root + "/tsconfig.base.json")
      (root + "/tsconfig.build.json")
    ];
  };

  nativeBuildInputs = [
    nodejs
    makeWrapper
  ];

  buildPhase = ''
    runHook preBuild
    ln -s ${buildModules}/node_modules node_modules
    # tsc through node: node_modules/.bin scripts start with #!/usr/bin/env, absent in the sandbox
    node node_modules/typescript/bin/tsc -p tsconfig.build.json
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    mkdir -p $out/lib/beds $out/bin
    cp -r dist config templates schema package.json $out/lib/beds/
    ln -s ${runtimeModules}/node_modules $out/lib/beds/node_modules
    makeWrapper ${lib.getExe nodejs} $out/bin/beds-node --add-flags $out/lib/beds/dist/main.js
    makeWrapper ${lib.getExe nodejs} $out/bin/beds --add-flags $out/lib/beds/dist/cli/main.js
    makeWrapper ${lib.getExe nodejs} $out/bin/beds-schema-apply --add-flags $out/lib/beds/dist/schema-apply.js
    runHook postInstall
  '';

  passthru = { inherit buildModules runtimeModules; };

  meta = {
    description = "BEDS (Back End Data System): message-driven data service on RabbitMQ";
    mainProgram = "beds-node";
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
}
