# Plugin settings that are a list.
# expect: services.botrunner.instances.echo-1.settings: expected an attribute set of plugin settings
# check: instances[0].config: expected a mapping of plugin settings
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
    settings = [ "verbose" ];
  };
}
