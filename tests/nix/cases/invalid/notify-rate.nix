# More notices per minute than the bound.
# expect: services.botrunner.notifications.maxPerMinute: 601 is outside 1..600
# check: notifications.max_per_minute: 601 is outside 1..600
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  notifications = { room = "!admin:clarun.xyz"; sender = "echo-1"; maxPerMinute = 601; };
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
