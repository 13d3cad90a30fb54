# A notifications set with neither room nor sender.
# expect: services.botrunner.notifications.room: is required: the room id of the admin room
# expect: services.botrunner.notifications.sender: is required: the instance whose account posts the notices
# check: notifications.room: expected a string, not an empty value
# check: notifications.sender: expected a string, not an empty value
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  notifications = { };
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
