# Port 0 for the status endpoint, and in reservedPorts.
# expect: services.botrunner.status.port: 0 is not a port (1..65535)
# expect: services.botrunner.reservedPorts[1]: 0 is not a port (1..65535)
# check: status.port: port 0 is not a port
# check: reserved_ports: port 0 is not a port
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  status.port = 0;
  reservedPorts = [ 8008 0 ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
