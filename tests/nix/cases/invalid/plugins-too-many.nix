# More plugins than the runner loads.
# expect: services.botrunner.plugins: more than 1000 plugins
# check: plugins: has 1001 entries, allowed 0..1000
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = builtins.genList (i: { outPath = "/run/plugins/p${toString i}"; pluginId = "p${toString i}"; }) 1001;
}
