# Credentials in the URL; the message must not echo them.
# expect: services.botrunner.homeserver.url: must not contain user information ("user:password@"): credentials belong in *File options
# check: must not contain user information
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  homeserver.url = "http://bot:hunter2@127.0.0.1:6167";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
