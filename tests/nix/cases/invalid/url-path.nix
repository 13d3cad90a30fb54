# A URL with a path.
# expect: services.botrunner.homeserver.url: "http://127.0.0.1:6167/_matrix" must be http(s)://host[:port] with no path, query or fragment
# check: must not have a path, query or fragment
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  homeserver.url = "http://127.0.0.1:6167/_matrix";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
