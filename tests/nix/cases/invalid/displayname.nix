# Display names of two lines, or longer than 256 bytes.
# expect: services.botrunner.instances.echo-1.displayname: must be one line of at most 256 bytes
# expect: services.botrunner.instances.echo-2.displayname: must be one line of at most 256 bytes
# check: instances[0].displayname: must be one line of at most 256 bytes
# check: instances[1].displayname: must be one line of at most 256 bytes
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
    displayname = "Echo\nBot";
  };
  instances.echo-2 = {
    plugin = "botrunner.echo";
    user = "@echo-2:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
    displayname = "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééx";
  };
}
