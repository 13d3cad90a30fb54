# The status endpoint on the homeserver's default port (443 for https on [::1]).
# expect: services.botrunner.status.port: port 443 is the homeserver's
# check: status.port: port 443 is the homeserver's
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  homeserver.url = "https://[::1]";
  status.port = 443;
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
