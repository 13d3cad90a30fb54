# An error notification level in lower case.
# expect: services.botrunner.instances.echo-1.errorNotificationLevel: "error" is not one of DEBUG, INFO, WARN, ERROR, CRITICAL
# check: "error" is not one of
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
    errorNotificationLevel = "error";
  };
}
