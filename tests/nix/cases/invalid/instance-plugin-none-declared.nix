# An instance when no plugin is declared at all.
# expect: services.botrunner.instances.echo-1.plugin: "botrunner.echo" is not the id of any plugin in services.botrunner.plugins (none is declared)
# check: instances[0].plugin: "botrunner.echo" is not the id of any declared plugin
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
