# A log level that is not one of the five (the YAML's enum says so too).
# expect: services.botrunner.logging.level: "VERBOSE" is not one of DEBUG, INFO, WARN, ERROR, CRITICAL
# check: "VERBOSE" is not one of
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  logging.level = "VERBOSE";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
