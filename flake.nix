{
  description = "BEDS (Back End Data System): message-driven data service on RabbitMQ, MariaDB, MongoDB and DynamoDB";

  inputs.nixpkgs.url = "nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs:
        let
          nodejs = pkgs.nodejs_20;
          lockInputs = pkgs.lib.fileset.toSource {
            root = ./.;
            fileset = pkgs.lib.fileset.unions [ ./package.json ./package-lock.json ];
          };
          # package-lock.json records versions and integrity hashes but no download URLs (this
          # project's npm omits them), which nixpkgs' importNpmLock and fetchNpmDeps need. So the
          # dependencies are installed by npm itself, from the lock, in a fixed-output derivation:
          # its hash pins the whole tree. After any change to package-lock.json, build once and put
          # the hash Nix reports ("got: sha256-...") here.
          nodeModules = pkgs.stdenvNoCC.mkDerivation {
            pname = "beds-node-modules";
            version = "0.1.0";
            src = lockInputs;
            nativeBuildInputs = [ nodejs pkgs.cacert ];
            buildPhase = ''
              export HOME=$TMPDIR
              npm install --no-save --no-audit --no-fund --ignore-scripts
            '';
            installPhase = "cp -r node_modules $out";
            dontFixup = true;
            outputHashMode = "recursive";
            outputHashAlgo = "sha256";
            outputHash = pkgs.lib.fakeHash;
          };
        in
        {
          default = self.packages.${pkgs.system}.beds;
          beds = pkgs.stdenvNoCC.mkDerivation {
            pname = "beds";
            version = "0.1.0";
            src = ./.;
            nativeBuildInputs = [ nodejs pkgs.makeWrapper ];
            buildPhase = ''
              cp -r ${nodeModules} node_modules
              chmod -R u+w node_modules
              node_modules/.bin/tsc -p tsconfig.build.json
              npm prune --omit=dev --offline --no-audit --no-fund
            '';
            installPhase = ''
              mkdir -p $out/lib/beds $out/bin
              cp -r dist config package.json node_modules $out/lib/beds/
              makeWrapper ${nodejs}/bin/node $out/bin/beds --add-flags $out/lib/beds/dist/main.js
            '';
          };
        });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_20
            pkgs.rabbitmq-server # rabbitmqctl, and a local broker
            pkgs.mariadb.client
            pkgs.mongosh
            pkgs.awscli2
            pkgs.nix
          ];
        };
      });
    };
}
