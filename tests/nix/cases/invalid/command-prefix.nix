# A command prefix of two words, or longer than 32 bytes.
# expect: services.botrunner.instances.echo-1.commandPrefix: "! echo" must be one word of at most 32 bytes
# expect: services.botrunner.instances.echo-2.commandPrefix: "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" must be one word of at most 32 bytes
# check: instances[0].command_prefix: "! echo" must be one word of at most 32 bytes
# check: instances[1].command_prefix: "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" must be one word of at most 32 bytes
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
    commandPrefix = "! echo";
  };
  instances.echo-2 = {
    plugin = "botrunner.echo";
    user = "@echo-2:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
    commandPrefix = "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!";
  };
}
