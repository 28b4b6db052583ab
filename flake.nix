{
  description = "BEDS (Back End Data System): message-driven data service on RabbitMQ, MariaDB, MongoDB and DynamoDB";

  # The supported NixOS release line (24.11 is end of life); flake.lock pins one revision of it
  # (deploy/README.md says how that pin was chosen and checked). `nix flake update` moves it.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
    in
    {
      # nix build: result/bin/beds-node runs the node (dist/main.js) on Node 26, the Active LTS line;
      # result/bin/beds is the operator CLI.
      packages = forAllSystems (
        system: pkgs: {
          beds = pkgs.callPackage ./deploy/nix/package.nix {
            inherit system;
            nodejs = pkgs.nodejs_26;
          };
          default = self.packages.${system}.beds;
        }
      );

      # services.beds on NixOS, with this flake's package.
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./deploy/nixos/module.nix ];
          services.beds.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.beds;
        };

      checks = forAllSystems (system: pkgs: { beds = self.packages.${system}.beds; });

      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            packages = [
              pkgs.nodejs_26
              pkgs.rabbitmq-server # rabbitmqctl, and a local broker
              pkgs.mariadb.client
              pkgs.mongosh
              pkgs.awscli2
            ];
          };
        }
      );
    };
}
