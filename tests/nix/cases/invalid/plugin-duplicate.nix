# One plugin declared twice.
# expect: services.botrunner.plugins[1]: plugin id "botrunner.echo" is declared twice (also plugins[0])
# expect: services.botrunner.plugins[2]: plugin id "botrunner.echo" is declared twice (also plugins[0])
# check: plugins[1].path: plugin id "botrunner.echo" is declared twice (also plugins[0])
# check: plugins[2].path: plugin id "botrunner.echo" is declared twice (also plugins[0])
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo echo echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
