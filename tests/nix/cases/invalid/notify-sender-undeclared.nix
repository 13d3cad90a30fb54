# Notices from an instance that does not exist.
# expect: services.botrunner.notifications.sender: "nobody" is not the id of a declared instance
# check: notifications.sender: "nobody" is not the id of a declared instance
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  notifications = { room = "!admin:clarun.xyz"; sender = "nobody"; };
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
