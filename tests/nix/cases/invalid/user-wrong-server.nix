# User ids on another server, or with an upper-case localpart.
# expect: services.botrunner.instances.echo-1.user: "@echo:example.org" is not a valid user id on clarun.xyz (expected @localpart:clarun.xyz, localpart of a-z, 0-9 and -)
# expect: services.botrunner.instances.echo-2.user: "@Echo:clarun.xyz" is not a valid user id on clarun.xyz (expected @localpart:clarun.xyz, localpart of a-z, 0-9 and -)
# check: instances[0].user: "@echo:example.org" is not a valid user id on clarun.xyz
# check: instances[1].user: "@Echo:clarun.xyz" is not a valid user id on clarun.xyz
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:example.org";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
  instances.echo-2 = {
    plugin = "botrunner.echo";
    user = "@Echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
