# Notices from a disabled instance.
# expect: services.botrunner.notifications.sender: instance "echo-1" is disabled, so it cannot post notifications
# check: notifications.sender: instance "echo-1" is disabled, so it cannot post notifications
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  notifications = { room = "!admin:clarun.xyz"; sender = "echo-1"; };
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
    enable = false;
  };
}
