# An instance that names no plugin.
# expect: services.botrunner.instances.echo-1.plugin: is required: the id of a plugin in services.botrunner.plugins
# check: instances[0].plugin: expected a string, not an empty value
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
