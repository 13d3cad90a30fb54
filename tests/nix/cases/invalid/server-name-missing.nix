# No server name: nothing to check the bots' user ids against.
# expect: services.botrunner.homeserver.serverName: is required: the domain of every bot's user id
# check: homeserver.server_name: expected a string, not an empty value
{ echo, fixtures }:
{
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
