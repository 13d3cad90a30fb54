# A server name that is neither a DNS name nor an IP literal.
# expect: services.botrunner.homeserver.serverName: "clarun_xyz" is not a valid server name (a DNS name or IP literal, optionally :port)
# check: "clarun_xyz" is not a valid server name
{ echo, fixtures }:
{
  homeserver.serverName = "clarun_xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun_xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
