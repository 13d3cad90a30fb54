# An instance whose plugin is not a plugin id.
# expect: services.botrunner.instances.echo-1.plugin: "Echo!" is not a plugin id ([a-z][a-z0-9._-]+)
# check: "Echo!" is not a plugin id
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "Echo!";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
