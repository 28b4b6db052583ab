# services.beds: one BEDS node as a sandboxed systemd service. Config is layered as the README says:
# beds.toml from the package, then env_<environment>.toml written from `settings`, then BEDS_*
# variables (secrets) from `environmentFile`, which systemd reads and the Nix store never holds.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.beds;
  toml = pkgs.formats.toml { };
  configDir = pkgs.runCommand "beds-config" { } ''
    mkdir -p $out
    cp ${cfg.package}/lib/beds/config/beds.toml $out/beds.toml
    cp ${toml.generate "env_${cfg.environment}.toml" cfg.settings} $out/env_${cfg.environment}.toml
  '';
in
{
  options.services.beds = {
    enable = lib.mkEnableOption "a BEDS node";

    package = lib.mkOption {
      type = lib.types.package;
      description = "The BEDS package; the flake's nixosModules.default sets its own packages.<system>.beds.";
    };

    environment = lib.mkOption {
      type = lib.types.enum [ "dev" "qa" "prod" ];
      default = "prod";
      description = "BEDS_ENV: in prod any failed IPL step stops the node (exit 1, then systemd restarts it).";
    };

    settings = lib.mkOption {
      type = toml.type;
      default = { };
      example = lib.literalExpression ''
        {
          node = { id = "prod1"; role = "appServer"; };
          rabbitmq.host = "rabbitmq.prod.internal";
          mariadb.master.host = "mariadb-master.prod.internal";
        }
      '';
      description = ''
        env_<environment>.toml, over beds.toml (keys: docs/configuration.md, config/env_prod.toml.example).
        No secrets here: they would be world-readable in the Nix store. Use environmentFile.
      '';
    };

    environmentFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      example = "/run/secrets/beds.env";
      description = "BEDS_* variables holding secrets, e.g. BEDS_RABBITMQ__PASSWORD=..., read by systemd as root.";
    };

    sharedDirectory = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/beds/shared";
      description = ''
        shared_fs.path: the directory nodes share (cool storage). The default is made under the
        service's StateDirectory; another path (an NFS mount) must exist and be writable by the service.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    services.beds.settings.config_version = lib.mkDefault 1;

    systemd.services.beds = {
      description = "BEDS node";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      environment = {
        BEDS_ENV = cfg.environment;
        BEDS_CONFIG_DIR = "${configDir}";
        BEDS_SHARED_FS__PATH = cfg.sharedDirectory;
      };
      serviceConfig = {
        ExecStart = lib.getExe cfg.package;
        EnvironmentFile = lib.optional (cfg.environmentFile != null) cfg.environmentFile;
        Restart = "on-failure";
        RestartSec = 5;
        # SIGTERM drains in-flight messages (shutdown.drain_timeout_ms, 10 s by default) and exits 0
        KillSignal = "SIGTERM";
        TimeoutStopSec = 60;

        # Sandbox: a user of its own, nothing writable but its state directory and the shared one.
        DynamicUser = true;
        StateDirectory = [ "beds" "beds/shared" ];
        ReadWritePaths = lib.optional (!lib.hasPrefix "/var/lib/beds/" cfg.sharedDirectory) cfg.sharedDirectory;
        UMask = "0077";
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateMounts = true;
        PrivateDevices = true;
        DevicePolicy = "closed";
        PrivateUsers = true;
        ProtectHostname = true;
        ProtectClock = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectProc = "invisible";
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
        SystemCallErrorNumber = "EPERM";
        # V8 compiles JavaScript to machine code at run time: it needs writable+executable memory.
        MemoryDenyWriteExecute = false;
      };
    };
  };
}
