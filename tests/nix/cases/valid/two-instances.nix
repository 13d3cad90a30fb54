# Two bots of one plugin, one by password and one that registers, and the admin room's
# notices posted by the second.
{ echo, fixtures }:
{
  homeserver.serverName = "example.org";
  secretKeyFile = "/run/secrets/botrunner-key";
  registrationTokenFile = "/run/secrets/registration-token";
  notifications = {
    room = "!admin-room:example.org";
    sender = "echo-b";
  };
  plugins = [ echo ];
  instances = {
    echo-a = {
      plugin = "botrunner.echo";
      user = "@echo-a:example.org";
      passwordFile = "/run/secrets/echo-a";
      roomSubscriptions = [ "!one:example.org" "!two:example.org" ];
      commandPrefix = "!a";
    };
    echo-b = {
      plugin = "botrunner.echo";
      user = "@echo-b:example.org";
      roomSubscriptions = [ "!two:example.org" ];
      commandPrefix = "!b";
    };
  };
}
