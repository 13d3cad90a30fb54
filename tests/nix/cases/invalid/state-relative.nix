# A relative state directory.
# expect: services.botrunner.stateDirectory: state directory "var/lib/botrunner" must be an absolute path
# check: state directory "var/lib/botrunner" must be an absolute path
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  stateDirectory = "var/lib/botrunner";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
