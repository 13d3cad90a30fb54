# nixos/module.nix evaluated by lib.evalModules with nixpkgs' lib alone: the few NixOS options
# it sets are declared here loosely, and pkgs is a stand-in whose derivations are plain sets.
#
# Used by tests/nix/test_module.py and bench/nix-eval.py, where NIXPKGS_LIB names a checkout
# of nixpkgs' lib (the nix-community/nixpkgs.lib mirror). Nothing here builds anything.
{
  lib,
  # The services.botrunner definitions under test (a module: an attrset or a function).
  botrunner ? { },
  # Generate this many echo instances on top (for the evaluation-time benchmark).
  instances ? 0,
}:
let
  inherit (lib) mkOption types;

  fakeDrv = name: extra: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
  } // extra;

  pkgs = {
    botrunner = fakeDrv "botrunner-0.1.0" { meta.mainProgram = "botrunner"; };
    writeText = name: text: fakeDrv name { inherit text; };
    runCommand = name: env: script: fakeDrv name { inherit env script; };
    stdenv = {
      buildPlatform.canExecute = _: true;
      hostPlatform = { };
    };
  };
  echo = fakeDrv "botrunner-plugin-echo-0.1.0" { pluginId = "botrunner.echo"; runtimeDeps = [ ]; needsInternet = false; };

  # The NixOS options the module sets, declared just enough to merge definitions.
  nixosStub = {
    options = {
      assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      warnings = mkOption { type = types.listOf types.str; default = [ ]; };
      environment.etc = mkOption { type = types.attrsOf types.anything; default = { }; };
      environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };
      users.users = mkOption { type = types.attrsOf types.anything; default = { }; };
      users.groups = mkOption { type = types.attrsOf types.anything; default = { }; };
      systemd.services = mkOption { type = types.attrsOf types.anything; default = { }; };
      systemd.timers = mkOption { type = types.attrsOf types.anything; default = { }; };
      meta = mkOption { type = types.attrsOf types.anything; default = { }; };
      services.matrix-continuwuity.enable = mkOption { type = types.bool; default = false; };
      # nixpkgs' maubot module, as far as this one reads it (the port it shares).
      services.maubot.enable = mkOption { type = types.bool; default = false; };
      services.maubot.settings = mkOption { type = types.attrsOf types.anything; default = { }; };
    };
  };

  generated = {
    services.botrunner.instances = builtins.listToAttrs (
      builtins.genList (i: {
        name = "echo-${toString i}";
        value = {
          plugin = "botrunner.echo";
          user = "@echo-${toString i}:example.org";
          roomSubscriptions = [ "!room${toString (i / 10)}:example.org" ];
          commandPrefix = "!e${toString i}";
        };
      }) instances
    );
  };

  base = {
    services.botrunner = {
      enable = true;
      homeserver.serverName = lib.mkDefault "example.org";
      secretKeyFile = lib.mkDefault "/run/secrets/botrunner-key";
      registrationTokenFile = lib.mkDefault "/run/secrets/registration-token";
      plugins = lib.mkDefault [ echo ];
    };
  };

  eval = lib.evalModules {
    modules = [
      nixosStub
      ../../nixos/module.nix
      base
      generated
      botrunner
    ];
    specialArgs = { inherit pkgs; };
  };
  inherit (eval) config;
  failed = builtins.filter (a: !a.assertion) config.assertions;
in
{
  inherit config echo;
  # What nixos-rebuild would refuse with, one message each.
  assertions = map (a: a.message) failed;
  inherit (config) warnings;
  unit = config.systemd.services.botrunner;
  health = config.systemd.services.botrunner-health or null;
  timer = config.systemd.timers.botrunner-health or null;
  yaml = config.environment.etc."botrunner/botrunner.yaml".source.script or null;
  rendered = (import ../../nixos/render.nix).text config.services.botrunner;
}
