# An admin room that is neither a room id nor an alias.
# expect: services.botrunner.notifications.room: "admin:clarun.xyz" is not a valid room id (!opaque:server) or alias (#alias:server)
# check: notifications.room: "admin:clarun.xyz" is not a valid room id
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  notifications = { room = "admin:clarun.xyz"; sender = "echo-1"; };
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
