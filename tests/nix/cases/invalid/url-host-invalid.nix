# A remote homeserver whose host is no DNS name: an empty label, and a percent sign.
# expect: services.botrunner.homeserver.url: "https://matrix..example.org": "matrix..example.org" is not a valid host name
# check: "https://matrix..example.org": "matrix..example.org" is not a valid host name
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  homeserver.url = "https://matrix..example.org";
  homeserver.allowRemote = true;
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
