# A URL given as a number (the YAML says it is no http(s) URL).
# expect: services.botrunner.homeserver.url: expected a string
# check: homeserver.url: "6167" must start with http:// or https://
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  homeserver.url = 6167;
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
