# An empty display name: null means none; "" is refused (every string is 1..4096 bytes).
# expect: services.botrunner.instances.echo-1.displayname: is empty; leave it null for none
# check: instances[0].displayname
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
    displayname = "";
  };
}
