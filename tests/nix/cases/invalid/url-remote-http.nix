# A remote homeserver over plain http, allowed or not.
# expect: services.botrunner.homeserver.url: "http://10.0.0.2:8008": a remote homeserver must use https://, or access tokens would cross the network in clear text
# check: "http://10.0.0.2:8008": a remote homeserver must use https://
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  homeserver.url = "http://10.0.0.2:8008";
  homeserver.allowRemote = true;
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
