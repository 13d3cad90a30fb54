# A remote homeserver, allowed and over https, without a port.
{ echo, fixtures }:
{
  homeserver = {
    serverName = "example.org";
    url = "https://matrix.example.org";
    allowRemote = true;
  };
  secretKeyFile = "/run/secrets/botrunner-key";
  status.port = 80;
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:example.org";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc:example.org" ];
  };
}
