# flake.nix's outputs, evaluated with a stand-in nixpkgs that throws when touched: whatever
# evaluates here needs nothing from nixpkgs. tests/nix/test_module.py reads the summary.
let
  flake = import ../../flake.nix;
  untouchable = what: throw "flake-outputs.nix: ${what} needs nixpkgs";
  nixpkgs = {
    lib = untouchable "nixpkgs.lib";
    legacyPackages = untouchable "nixpkgs.legacyPackages";
    outPath = untouchable "import nixpkgs";
  };
  outputs = flake.outputs { inherit self nixpkgs; };
  self = outputs // { outPath = toString ../..; };
  systems = builtins.attrNames self.packages;
  names = attr: builtins.listToAttrs (map (s: { name = s; value = builtins.attrNames self.${attr}.${s}; }) systems);
in
{
  inherit (flake) description;
  inputs = builtins.mapAttrs (_: i: i.url) flake.inputs;
  outputs = builtins.attrNames outputs;
  inherit systems;
  packages = names "packages";
  checks = names "checks";
  devShells = names "devShells";
  formatter = builtins.attrNames self.formatter;
  overlay = builtins.isFunction self.overlays.default;
  module = builtins.isFunction self.nixosModules.default;
  moduleAlias = builtins.isFunction self.nixosModules.botrunner;
  buildPlugin = builtins.isFunction self.lib.buildPlugin;
  lib = builtins.attrNames self.lib;
  # The renderer through the flake, on the smallest useful option set.
  rendered = self.lib.render {
    homeserver.serverName = "example.org";
    secretKeyFile = "/run/secrets/botrunner-key";
    registrationTokenFile = "/run/secrets/registration-token";
    plugins = [ { outPath = "/nix/store/00000000000000000000000000000000-botrunner-plugin-echo"; pluginId = "botrunner.echo"; } ];
    instances.echo-1 = {
      plugin = "botrunner.echo";
      user = "@echo-1:example.org";
      roomSubscriptions = [ "!room:example.org" ];
    };
  };
}
