# Every bounded number one past its bound.
# expect: services.botrunner.instances.echo-1.rateLimit.maxRequestsPerMinute: 61 is outside 1..60
# expect: services.botrunner.instances.echo-1.rateLimit.burstSize: 0 is outside 1..60
# expect: services.botrunner.instances.echo-1.rateLimit.backoffSeconds: 86401 is outside 0..86400
# expect: services.botrunner.instances.echo-1.catchUpMaxAge: 2592001 is outside 0..2592000
# expect: services.botrunner.instances.echo-1.sendRate: 1001 is outside 1..1000
# expect: services.botrunner.instances.echo-1.eventRetries: 11 is outside 0..10
# check: rate_limit.max_requests_per_minute: 61 is outside 1..60
# check: rate_limit.burst_size: 0 is outside 1..60
# check: rate_limit.backoff_seconds: 86401 is outside 0..86400
# check: catch_up_max_age: 2592001 is outside 0..2592000
# check: send_rate: 1001 is outside 1..1000
# check: event_retries: 11 is outside 0..10
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
    rateLimit = { maxRequestsPerMinute = 61; burstSize = 0; backoffSeconds = 86401; };
    catchUpMaxAge = 2592001;
    sendRate = 1001;
    eventRetries = 11;
  };
}
