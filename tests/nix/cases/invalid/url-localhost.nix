# localhost may resolve to ::1 first, where conduwuit does not listen.
# expect: services.botrunner.homeserver.url: "http://LocalHost:6167": use the IP literal 127.0.0.1 instead of "localhost", which may resolve to ::1 first where the homeserver (conduwuit) does not listen
# check: use the IP literal 127.0.0.1 instead of "localhost"
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  homeserver.url = "http://LocalHost:6167";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
