# Neither a password nor a registration token.
# expect: services.botrunner.instances.echo-1: no way to authenticate: set passwordFile here, or registrationTokenFile so the bot can register
# check: instances[0]: no way to authenticate
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
