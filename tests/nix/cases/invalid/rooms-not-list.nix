# One room where a list belongs.
# expect: services.botrunner.instances.echo-1.roomSubscriptions: expected a list of room ids
# check: instances[0].room_subscriptions: expected a list, found a scalar
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = "!abc123def:clarun.xyz";
  };
}
