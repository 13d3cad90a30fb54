# Numbers given as a string and a float.
# expect: services.botrunner.instances.echo-1.rateLimit.maxRequestsPerMinute: expected an integer, found string
# expect: services.botrunner.instances.echo-1.catchUpMaxAge: expected an integer, found float
# check: max_requests_per_minute: "10" is not a decimal integer
# check: catch_up_max_age: "1.5" is not a decimal integer
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
    rateLimit.maxRequestsPerMinute = "10";
    catchUpMaxAge = 1.5;
  };
}
