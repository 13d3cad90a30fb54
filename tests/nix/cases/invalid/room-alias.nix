# A room alias where the room id belongs.
# expect: services.botrunner.instances.echo-1.roomSubscriptions[1]: "#lobby:clarun.xyz" is a room alias; give the room id (!opaque:server)
# check: room_subscriptions[1]: "#lobby:clarun.xyz" is a room alias
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" "#lobby:clarun.xyz" ];
  };
}
