# Room ids: no server, an empty or spaced opaque part, a bad server, too short a v12 id.
# expect: services.botrunner.instances.echo-1.roomSubscriptions[0]: "!nocolon" is not a valid room id (!opaque:server) or alias (#alias:server)
# expect: services.botrunner.instances.echo-1.roomSubscriptions[1]: "!:clarun.xyz" is not a valid room id (!opaque:server) or alias (#alias:server)
# expect: services.botrunner.instances.echo-1.roomSubscriptions[2]: "!a b:clarun.xyz" is not a valid room id (!opaque:server) or alias (#alias:server)
# expect: services.botrunner.instances.echo-1.roomSubscriptions[3]: "abc:clarun.xyz" is not a valid room id (!opaque:server) or alias (#alias:server)
# expect: services.botrunner.instances.echo-1.roomSubscriptions[4]: "!abc:clarun.xyz:0" is not a valid room id (!opaque:server) or alias (#alias:server)
# expect: services.botrunner.instances.echo-1.roomSubscriptions[5]: "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogL" is not a valid room id (!opaque:server) or alias (#alias:server)
# check: room_subscriptions[0]: "!nocolon" is not a valid room id
# check: room_subscriptions[1]: "!:clarun.xyz" is not a valid room id
# check: room_subscriptions[2]: "!a b:clarun.xyz" is not a valid room id
# check: room_subscriptions[3]: "abc:clarun.xyz" is not a valid room id
# check: room_subscriptions[4]: "!abc:clarun.xyz:0" is not a valid room id
# check: room_subscriptions[5]: "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogL" is not a valid room id
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!nocolon" "!:clarun.xyz" "!a b:clarun.xyz" "abc:clarun.xyz" "!abc:clarun.xyz:0" "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogL" ];
  };
}
