# A feature switch given as a string.
# expect: services.botrunner.instances.echo-1.features.caching: expected a boolean
# check: features.caching: "yes" is not true or false
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
    features.caching = "yes";
  };
}
