# A state directory with a ".." component.
# expect: services.botrunner.stateDirectory: state directory "/var/lib/../lib/botrunner" must be in normal form (no ".", "..", "//" or trailing "/")
# check: state directory "/var/lib/../lib/botrunner" must be in normal form
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  stateDirectory = "/var/lib/../lib/botrunner";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
