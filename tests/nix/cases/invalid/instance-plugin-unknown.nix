# An instance of a plugin that is not declared.
# expect: services.botrunner.instances.echo-1.plugin: "sna.instagram" is not the id of any plugin in services.botrunner.plugins (declared: botrunner.echo)
# check: instances[0].plugin: "sna.instagram" is not the id of any declared plugin
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "sna.instagram";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
