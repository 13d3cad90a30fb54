# A URL whose port is out of range.
# expect: services.botrunner.homeserver.url: "http://127.0.0.1:65536" has a port outside 1..65535
# check: "http://127.0.0.1:65536" has a port outside 1..65535
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  homeserver.url = "http://127.0.0.1:65536";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
