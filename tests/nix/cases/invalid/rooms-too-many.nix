# More rooms than an instance may list.
# expect: services.botrunner.instances.echo-1.roomSubscriptions: more than 1000 rooms
# check: instances[0].room_subscriptions: has 1001 entries, allowed 0..1000
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = builtins.genList (i: "!room${toString i}:clarun.xyz") 1001;
  };
}
