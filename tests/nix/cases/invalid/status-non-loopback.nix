# The status endpoint on every interface without allowNonLoopback.
# expect: services.botrunner.status.address: "0.0.0.0" is not loopback; the status endpoint stays on loopback unless status.allowNonLoopback is true
# check: "0.0.0.0" is not loopback
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  status.address = "0.0.0.0";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
