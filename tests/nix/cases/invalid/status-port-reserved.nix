# A status port that reservedPorts keeps for something else.
# expect: services.botrunner.status.port: port 3000 is reserved (reservedPorts)
# check: status.port: port 3000 is reserved (reserved_ports)
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  status.port = 3000;
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
