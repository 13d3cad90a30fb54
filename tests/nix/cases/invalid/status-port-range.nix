# A port above 65535, and a port given as a string.
# expect: services.botrunner.status.port: 65536 is not a port (1..65535)
# expect: services.botrunner.reservedPorts[0]: "8008" is not a port (1..65535)
# check: status.port: 65536 is out of range (0..65535)
# check: reserved_ports[0]: "8008" is not a decimal integer
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  status.port = 65536;
  reservedPorts = [ "8008" ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
