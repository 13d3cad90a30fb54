# The status endpoint on "localhost".
# expect: services.botrunner.status.address: use the IP literal 127.0.0.1 instead of "localhost"
# check: status.address: use the IP literal 127.0.0.1 instead of "localhost"
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  status.address = "localhost";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
