# The homeserver on [::1] and named by that literal, the status endpoint on ::1.
{ echo, fixtures }:
{
  homeserver = {
    serverName = "[::1]:8448";
    url = "http://[::1]:8448";
  };
  secretKeyFile = "/run/secrets/botrunner-key";
  status.address = "::1";
  plugins = [ echo ];
  instances.echo-6 = {
    plugin = "botrunner.echo";
    user = "@echo:[::1]:8448";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!room:[::1]:8448" "!other:[::1]" ];
  };
}
