# A server name whose port is out of range.
# expect: services.botrunner.homeserver.serverName: "clarun.xyz:65536" is not a valid server name (a DNS name or IP literal, optionally :port)
# check: "clarun.xyz:65536" is not a valid server name
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz:65536";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz:65536";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
