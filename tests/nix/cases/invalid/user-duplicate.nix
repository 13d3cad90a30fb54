# Two instances on one account would fight over its sync token.
# expect: services.botrunner.instances.echo-b.user: user "@echo:clarun.xyz" is not unique (also instances.echo-a); each instance needs its own account
# check: user "@echo:clarun.xyz" is not unique (also instances[0]); each instance needs its own account
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-a = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
  instances.echo-b = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
