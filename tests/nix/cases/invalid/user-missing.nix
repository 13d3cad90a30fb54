# An instance without a Matrix account.
# expect: services.botrunner.instances.echo-1.user: is required: the bot's Matrix user id
# check: instances[0].user: expected a string, not an empty value
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
