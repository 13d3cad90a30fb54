# Negative numbers where the lower bound is 0.
# expect: services.botrunner.instances.echo-1.rateLimit.backoffSeconds: -1 is outside 0..86400
# expect: services.botrunner.instances.echo-1.catchUpMaxAge: -1 is outside 0..2592000
# check: backoff_seconds: -1 is
# check: catch_up_max_age: -1 is
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
    rateLimit.backoffSeconds = -1;
    catchUpMaxAge = -1;
  };
}
