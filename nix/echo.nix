# botrunner.echo, the plugin of the demo and the tests: `<prefix> ping` -> pong.
{ buildPlugin }:
buildPlugin {
  pluginId = "botrunner.echo";
  version = "0.1.0";
  src = ../plugins/echo;
  meta.description = "botrunner's echo plugin: ping and echo";
}
