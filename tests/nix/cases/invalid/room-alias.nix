# A room alias is accepted where a room id is, but it must be one: "#" alone, a space, no
# server.
# expect: services.botrunner.instances.echo-1.roomSubscriptions[1]: "#:clarun.xyz" is not a valid room id (!opaque:server) or alias (#alias:server)
# expect: services.botrunner.instances.echo-1.roomSubscriptions[2]: "#a b:clarun.xyz" is not a valid room id (!opaque:server) or alias (#alias:server)
# expect: services.botrunner.instances.echo-1.roomSubscriptions[3]: "#lobby" is not a valid room id (!opaque:server) or alias (#alias:server)
# check: room_subscriptions[1]: "#:clarun.xyz" is not a valid room id (!opaque:server) or alias (#alias:server)
# check: room_subscriptions[2]: "#a b:clarun.xyz" is not a valid room id
# check: room_subscriptions[3]: "#lobby" is not a valid room id
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "#lobby:clarun.xyz" "#:clarun.xyz" "#a b:clarun.xyz" "#lobby" ];
  };
}
