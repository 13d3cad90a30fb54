# Instances as a list: the module's type is an attribute set.
# expect: services.botrunner.instances: expected an attribute set of instances
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances = [ { plugin = "botrunner.echo"; } ];
}
