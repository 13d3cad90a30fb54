# A package whose plugin id breaks the grammar.
# expect: services.botrunner.plugins[0]: "Echo" is not a plugin id ([a-z][a-z0-9._-]+)
# expect: services.botrunner.instances.echo-1.plugin: "botrunner.echo" is not the id of any plugin in services.botrunner.plugins (declared: Echo)
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ (echo // { pluginId = "Echo"; }) ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
