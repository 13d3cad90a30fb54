# Mutable state in the read-only Nix store.
# expect: services.botrunner.stateDirectory: "/nix/store/botrunner-state" is under /nix/store, which is not a place for mutable state
# check: "/nix/store/botrunner-state" is under /nix/store
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  stateDirectory = "/nix/store/botrunner-state";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
