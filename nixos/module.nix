# services.botrunner: the options (typed so that evaluation catches what `botrunner check`
# would), the rendered config in /etc, the hardened unit that runs it and the health timer.
#
# The rules and the YAML come from render.nix (builtins only, tested by tests/nix); this
# file adds the option types, the systemd side and the assertions that name each option.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    optional
    types
    ;

  cfg = config.services.botrunner;
  render = import ./render.nix;
  grammar = import ./grammar.nix;
  d = render.defaults;
  di = render.instanceDefaults;
  pat = render.patterns;

  # Where the unit finds its config: a stable path, so a new config is a reload (the
  # unit file does not change), not a restart. /etc/botrunner is made by environment.etc.
  configPath = "/etc/botrunner/botrunner.yaml";

  # Free-form plugin settings: JSON values, as pkgs.formats.json's type but from lib alone,
  # so that the module evaluates with nixpkgs' lib only (tests, benchmarks).
  jsonValue =
    let
      valueType =
        types.nullOr (
          types.oneOf [
            types.bool
            types.int
            types.float
            types.str
            (types.listOf valueType)
            (types.attrsOf valueType)
          ]
        )
        // {
          description = "JSON value";
        };
    in
    valueType;

  # A secret's location. A string, checked by render.nix: absolute, outside the Nix store.
  # Path values are accepted by the type only so the assertion can explain why they are
  # refused (./secret would be copied into the world-readable store).
  secretFile = types.mkOptionType {
    name = "secretFile";
    description = "absolute path of a secret file outside the Nix store, as a string";
    check = x: builtins.isString x || builtins.isPath x;
    merge = lib.mergeEqualOption;
  };

  level = types.enum render.levels;
  room = types.strMatching "${pat.roomId}|${pat.roomAlias}" // {
    description = "Matrix room id (!opaque:server) or room alias (#alias:server)";
  };
  userId = types.strMatching "@${pat.localpart}:.+" // {
    description = "Matrix user id (@localpart:server, localpart of a-z, 0-9 and -)";
  };
  port = types.ints.between 1 65535;

  # Whether services.<name> exists and is enabled. Reading a removed option throws (nixpkgs
  # removes services by mkRemovedOptionModule), so the read is guarded by tryEval.
  serviceEnabled =
    name:
    let
      t = builtins.tryEval (config.services.${name}.enable or false);
    in
    t.success && t.value == true;

  # Units of homeservers this module knows, when they run on this host: the bots start
  # after them.
  localHomeserverUnits =
    optional (serviceEnabled "matrix-continuwuity") "continuwuity.service"
    ++ optional (serviceEnabled "matrix-tuwunel") "tuwunel.service"
    ++ optional (serviceEnabled "matrix-conduit") "conduit.service"
    ++ optional (serviceEnabled "matrix-synapse") "matrix-synapse.service";

  # nixpkgs' services.maubot may run beside this module; its port is then taken.
  maubotPort =
    if serviceEnabled "maubot" then config.services.maubot.settings.server.port or 29316 else null;

  instanceModule =
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = di.enable;
          description = "Whether this bot runs. A disabled instance keeps its account and state.";
        };
        plugin = mkOption {
          type = types.strMatching pat.pluginId;
          example = "sna.instagram";
          description = "The id of the plugin this bot runs: one of the packages in {option}`services.botrunner.plugins`.";
        };
        user = mkOption {
          type = userId;
          example = "@instagram-bot:example.org";
          description = ''
            The bot's Matrix user id, on {option}`services.botrunner.homeserver.serverName`.
            Each instance needs its own account.
          '';
        };
        passwordFile = mkOption {
          type = types.nullOr secretFile;
          default = null;
          example = "/run/secrets/instagram-bot-password";
          description = ''
            A file holding the bot account's password, passed to the unit by LoadCredential.
            When null the bot registers itself with {option}`services.botrunner.registrationTokenFile`
            (and the password it generates is kept sealed in the state directory).
          '';
        };
        displayname = mkOption {
          type = types.nullOr types.str;
          default = di.displayname;
          example = "Instagram";
          description = "The bot's display name, set on start; one line of at most 256 bytes.";
        };
        roomSubscriptions = mkOption {
          type = types.listOf room;
          default = di.roomSubscriptions;
          example = [ "!abc123def:example.org" "#family:example.org" ];
          description = ''
            The rooms the bot joins and serves, each by room id or by room alias. The bot
            resolves an alias when it starts and on every reload (an alias that does not
            resolve is an error for that room only, retried with backoff). Invites to other
            rooms are declined.
          '';
        };
        commandPrefix = mkOption {
          type = types.nullOr types.str;
          default = di.commandPrefix;
          example = "!ig";
          description = "The word that starts the bot's commands (`!ig URL`): one word, at most 32 bytes.";
        };
        features = {
          autoFetch = mkOption {
            type = types.bool;
            default = di.features.autoFetch;
            description = "Whether the plugin acts on links in any message, not only on commands.";
          };
          rateLimiting = mkOption {
            type = types.bool;
            default = di.features.rateLimiting;
            description = "Whether {option}`rateLimit` applies to the plugin's external calls (the Instagram fetches).";
          };
          caching = mkOption {
            type = types.bool;
            default = di.features.caching;
            description = "Whether the plugin may cache fetched media.";
          };
        };
        rateLimit = {
          maxRequestsPerMinute = mkOption {
            type = types.ints.between 1 60;
            default = di.rateLimit.maxRequestsPerMinute;
            description = ''
              External calls (for the Instagram plugin: fetches) the plugin makes per minute, per
              room and per user. Not a limit on the bot's Matrix messages: see {option}`sendRate`.
            '';
          };
          burstSize = mkOption {
            type = types.ints.between 1 render.limits.burstSize;
            default = di.rateLimit.burstSize;
            description = "External calls allowed at once before the per-minute rate applies.";
          };
          backoffSeconds = mkOption {
            type = types.ints.between 0 render.limits.backoffSeconds;
            default = di.rateLimit.backoffSeconds;
            description = "Seconds the plugin pauses its external calls after the remote side limited it (doubling while that repeats).";
          };
        };
        errorNotificationLevel = mkOption {
          type = level;
          default = di.errorNotificationLevel;
          description = "The least severity of this bot's log messages that reach the admin room.";
        };
        catchUpMaxAge = mkOption {
          type = types.ints.between 0 render.limits.catchUpMaxAge;
          default = di.catchUpMaxAge;
          description = ''
            Seconds: messages that arrived while the bot was down are handled on start-up when
            they are newer than this; 0 handles none of them.
          '';
        };
        sendRate = mkOption {
          type = types.ints.between 1 render.limits.sendRate;
          default = di.sendRate;
          description = ''
            The guard on the bot's own Matrix sends (replies, reactions, notices): at most this
            many a second leave its outbox, in order, none dropped. The default never slows a
            bot that answers people; the homeserver's own limits apply on top (a 429 is waited
            out).
          '';
        };
        eventRetries = mkOption {
          type = types.ints.between 0 render.limits.eventRetries;
          default = di.eventRetries;
          description = ''
            How often an event is handed to the plugin again after the worker died handling
            it, before it is skipped (logged with its id and sender, and an ERROR notice): a
            message that crashes the plugin costs this many restarts, not a crash loop.
          '';
        };
        settings = mkOption {
          type = types.attrsOf jsonValue;
          default = { };
          example = literalExpression "{ max_file_size = 50000000; }";
          description = ''
            The plugin's own settings (the instance's `config` in the YAML), handed to the plugin
            as JSON. They are checked against the plugin's `config_schema` at build time (the
            build-time `botrunner check`), every error naming its key, and the schema's
            defaults are filled in for what is left out. They are written into the Nix store:
            secrets do not belong
            here, and a key that looks like one (ending in password, passwd, passphrase, secret,
            token, apikey, api_key or private_key, in any case, with `-` or `_`) with a string
            value is refused.
          '';
        };
      };
      # The attribute name is the instance id; render.nix checks its grammar.
    };

  notificationsModule = {
    options = {
      room = mkOption {
        type = room;
        example = "#admin:example.org";
        description = "The admin room that receives the notices.";
      };
      sender = mkOption {
        type = types.str;
        example = "instagram-bot-1";
        description = "The id of the (enabled) instance whose account posts the notices.";
      };
      maxPerMinute = mkOption {
        type = types.ints.between 1 render.limits.notificationsPerMinute;
        default = render.notificationDefaults.maxPerMinute;
        description = "At most this many notices a minute; the rest are counted and summarised.";
      };
    };
  };

  # The YAML, rendered in the store (it holds no secret) and checked at build time by the
  # very runner that will read it, without the credentials, which only the unit can see.
  renderedConfig = pkgs.writeText "botrunner.yaml" (render.text cfg);
  checkedConfig =
    if !cfg.checkConfig then
      renderedConfig
    else
      # The plugins' runtimeDeps on PATH, as the unit has them: check runs `yt-dlp --version`
      # and the like to prove each plugin's dependencies.
      pkgs.runCommand "botrunner-checked.yaml" {
        preferLocalBuild = true;
        nativeBuildInputs = pluginPath;
      } ''
        ${lib.getExe' cfg.package "botrunner"} check --no-credentials -c ${renderedConfig}
        cp ${renderedConfig} $out
      '';

  credentials = render.credentials cfg;
  pluginPath = lib.unique (lib.concatMap (p: p.runtimeDeps or [ ]) cfg.plugins);
  stateDirectoryName = lib.removePrefix "/var/lib/" cfg.stateDirectory;

  # With a homeserver on this host and no plugin that fetches from elsewhere, the bots need
  # loopback only: the kernel then drops everything else (a plugin made without
  # lib.buildPlugin is assumed to need the internet).
  loopbackOnly =
    !cfg.homeserver.allowRemote
    && !cfg.status.allowNonLoopback
    && !(lib.any (p: p.needsInternet or true) cfg.plugins);
  loopbackFirewall = {
    IPAddressAllow = "localhost";
    IPAddressDeny = "any";
  };

  # The health check talks to the status endpoint on loopback when it listens on every
  # address, else on its address (unbracketed), which its firewall then allows too.
  healthAddress =
    let
      a = grammar.unbracket cfg.status.address;
    in
    if a == "0.0.0.0" then
      "127.0.0.1"
    else if a == "::" then
      "::1"
    else
      a;
  healthUrl =
    let
      host = if lib.hasInfix ":" healthAddress then "[${healthAddress}]" else healthAddress;
    in
    "http://${host}:${toString cfg.status.port}";

  # The sandbox the runner and the health check share; systemd-analyze security rates it.
  hardening = {
    CapabilityBoundingSet = [ "" ];
    AmbientCapabilities = [ "" ];
    DevicePolicy = "closed";
    LockPersonality = true;
    # Plugins are shared objects mapped from the store, never written then executed; yt-dlp
    # (CPython) runs under the same filter.
    MemoryDenyWriteExecute = true;
    NoNewPrivileges = true;
    PrivateDevices = true;
    PrivateIPC = true;
    PrivateMounts = true;
    PrivateTmp = true;
    PrivateUsers = true;
    ProcSubset = "pid";
    ProtectClock = true;
    ProtectControlGroups = true;
    ProtectHome = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectProc = "invisible";
    ProtectSystem = "strict";
    RemoveIPC = true;
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    SystemCallArchitectures = "native";
    # Every denial in one entry: a later "~" line would otherwise re-allow what an
    # earlier allow-list line named.
    SystemCallFilter = [
      "@system-service"
      "~@clock @cpu-emulation @debug @keyring @module @mount @obsolete @privileged @raw-io @reboot @swap"
    ];
    SystemCallErrorNumber = "EPERM";
    UMask = "0077";
  };
in
{
  options.services.botrunner = {
    enable = mkEnableOption "botrunner, the runner of the Matrix bots declared in {option}`services.botrunner.instances`";

    package = mkOption {
      type = types.package;
      default = pkgs.botrunner;
      defaultText = literalExpression "pkgs.botrunner";
      description = "The botrunner package (the flake's module sets its own build).";
    };

    checkConfig = mkOption {
      type = types.bool;
      default = pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
      defaultText = literalExpression "pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform";
      description = ''
        Whether to run `botrunner check --no-credentials` on the rendered file at build time,
        so that a config the runner would refuse fails the build, not the service.
      '';
    };

    homeserver = {
      serverName = mkOption {
        type = types.str;
        example = "example.org";
        description = "The homeserver's server name: the domain part of every bot's user id.";
      };
      url = mkOption {
        type = types.str;
        default = d.homeserver.url;
        example = "http://127.0.0.1:6167";
        description = ''
          The homeserver's client API: an IP literal on loopback (`http://127.0.0.1:PORT` or
          `http://[::1]:PORT`, not `localhost`), unless {option}`allowRemote` is set.
        '';
      };
      allowRemote = mkOption {
        type = types.bool;
        default = d.homeserver.allowRemote;
        description = "Allow a homeserver that is not on this host; its url must then be https://.";
      };
      units = mkOption {
        type = types.listOf types.str;
        default = localHomeserverUnits;
        defaultText = literalExpression ''[ "continuwuity.service" ] # when services.matrix-continuwuity.enable, and the like'';
        description = "Units the bots start after: the homeserver when it runs on this host.";
      };
    };

    stateDirectory = mkOption {
      type = types.str;
      default = d.stateDirectory;
      description = ''
        Where bot.db and the plugins' databases live; a directory under /var/lib that
        systemd creates (StateDirectory=, mode 0700, owned by the service's dynamic user).
      '';
    };

    secretKeyFile = mkOption {
      type = types.nullOr secretFile;
      default = null;
      example = "/run/secrets/botrunner-secret-key";
      description = ''
        A file of at least 32 bytes of random text (`head -c 48 /dev/urandom | base64`: a final
        newline is not counted, so raw bytes could fall short) from which the key that
        seals the bots' access tokens in bot.db is derived. Required. Read by systemd
        (LoadCredential=) and so may be readable by root only; never copied into the store.
      '';
    };

    registrationTokenFile = mkOption {
      type = types.nullOr secretFile;
      default = null;
      example = "/run/secrets/matrix-registration-token";
      description = ''
        A file holding the homeserver's registration token: bots without
        {option}`passwordFile` register their account with it on first start.
      '';
    };

    status = {
      address = mkOption {
        type = types.str;
        default = d.status.address;
        description = "The address of the read-only status endpoint: an IP literal, loopback unless {option}`allowNonLoopback`.";
      };
      port = mkOption {
        type = port;
        default = d.status.port;
        description = "The port of the status endpoint; none of {option}`services.botrunner.reservedPorts`, nor the homeserver's.";
      };
      allowNonLoopback = mkOption {
        type = types.bool;
        default = d.status.allowNonLoopback;
        description = "Allow the status endpoint on a non-loopback address (it has no authentication).";
      };
    };

    reservedPorts = mkOption {
      type = types.listOf port;
      default = d.reservedPorts;
      description = "Ports the status endpoint must never take (other services' ports on this host).";
    };

    notifications = mkOption {
      type = types.nullOr (types.submodule notificationsModule);
      default = null;
      example = literalExpression ''{ room = "!admin:example.org"; sender = "instagram-bot-1"; }'';
      description = "Where the bots' errors and the runner's notices are posted; null posts none.";
    };

    logging.level = mkOption {
      type = level;
      default = d.logging.level;
      description = "The least severity written to the journal.";
    };

    plugins = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = literalExpression "[ botrunner.packages.\${system}.echo ]";
      description = ''
        The plugin packages (made by the flake's `lib.buildPlugin`). Their `runtimeDeps`
        (yt-dlp for the instagram plugin) are put on the unit's PATH.
      '';
    };

    instances = mkOption {
      type = types.attrsOf (types.submodule instanceModule);
      default = { };
      description = "The bots, by instance id (`[a-z0-9-]+`).";
    };

    healthCheck = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Whether a timer runs `botrunner health` against the status endpoint. A degraded or
          failed fleet fails `botrunner-health.service`, which `systemctl --failed` lists.
        '';
      };
      interval = mkOption {
        type = types.str;
        default = "5min";
        example = "1min";
        description = "How often the health check runs (a systemd time span).";
      };
    };
  };

  config = mkIf cfg.enable {
    assertions =
      map (message: {
        assertion = false;
        inherit message;
      }) (render.errors cfg)
      ++ [
        {
          # maubot's management API defaults to the same port as the status endpoint.
          assertion = maubotPort == null || maubotPort != cfg.status.port;
          message = "services.botrunner.status.port: port ${toString cfg.status.port} is also services.maubot's (settings.server.port); set another one to run both";
        }
        {
          assertion = lib.hasPrefix "/var/lib/" cfg.stateDirectory && builtins.match "[^/]+(/[^/]+)*" stateDirectoryName != null;
          message = "services.botrunner.stateDirectory: ${builtins.toJSON cfg.stateDirectory} must be a directory under /var/lib (systemd's StateDirectory=)";
        }
      ];
    warnings = render.warnings cfg;

    users.users.botrunner = {
      isSystemUser = true;
      group = "botrunner";
      description = "botrunner, the Matrix bot runner";
    };
    users.groups.botrunner = { };

    environment.etc."botrunner/botrunner.yaml".source = checkedConfig;
    environment.systemPackages = [ cfg.package ];

    systemd.services.botrunner = {
      description = "botrunner: the Matrix bots of services.botrunner";
      documentation = [ "file:${cfg.package}/share/doc/botrunner/nixos.md" ];
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ] ++ cfg.homeserver.units;
      path = pluginPath;
      # A new rendered file reloads (SIGHUP: changed bots restart, the others keep running);
      # anything else in the unit (package, credentials, status address) restarts it.
      reloadTriggers = [ checkedConfig ];
      restartTriggers = [ (builtins.toJSON cfg.status) ];
      startLimitIntervalSec = 300;
      startLimitBurst = 5;
      serviceConfig = hardening // lib.optionalAttrs loopbackOnly loopbackFirewall // {
        # Type=notify with systemd's reload protocol: `systemctl reload` (and so a switch)
        # sends SIGHUP and waits for the supervisor's RELOADING=1 ... READY=1, instead of
        # returning while the reload is still under way, as ExecReload=kill -HUP would.
        Type = "notify-reload";
        ReloadSignal = "SIGHUP";
        NotifyAccess = "main";
        ExecStart = "${lib.getExe' cfg.package "botrunner"} run -c ${configPath}";
        WatchdogSec = "60s";
        TimeoutStopSec = "30s";
        Restart = "on-failure";
        RestartSec = "5s";
        # A static system user, not DynamicUser: systemd would make /var/lib/botrunner a
        # symlink into /var/lib/private, and the runner refuses a symlinked state directory.
        User = "botrunner";
        Group = "botrunner";
        StateDirectory = stateDirectoryName;
        StateDirectoryMode = "0700";
        RuntimeDirectory = "botrunner";
        RuntimeDirectoryMode = "0700";
        LoadCredential = map (c: "${c.name}:${c.path}") credentials;
        # The plugins' subprocesses (yt-dlp) and their temporary files count here too.
        MemoryMax = "1G";
        TasksMax = 256;
      };
    };

    systemd.services.botrunner-health = mkIf cfg.healthCheck.enable {
      description = "botrunner health check";
      after = [ "botrunner.service" ];
      serviceConfig = hardening // {
        IPAddressAllow = [ "localhost" ] ++ lib.optional (!grammar.loopback healthAddress) healthAddress;
        IPAddressDeny = "any";
        Type = "oneshot";
        ExecStart = "${lib.getExe' cfg.package "botrunner"} health --url ${healthUrl}";
        DynamicUser = true;
        TimeoutStartSec = "60s";
      };
    };
    systemd.timers.botrunner-health = mkIf cfg.healthCheck.enable {
      description = "Run the botrunner health check every ${cfg.healthCheck.interval}";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnActiveSec = cfg.healthCheck.interval;
        OnUnitActiveSec = cfg.healthCheck.interval;
        AccuracySec = "30s";
      };
    };
  };
}
