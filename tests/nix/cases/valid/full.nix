# Every option set, none to its default; the rooms list repeats one room and a second
# instance serves none, for the warnings.
# warn: services.botrunner.instances.instagram-bot-1.roomSubscriptions[2]: room "!abc123def:clarun.xyz" is listed more than once
# warn: services.botrunner.instances.echo-1.roomSubscriptions: empty: this instance will not serve any room
{ echo, fixtures }:
let
  instagram = { outPath = "${fixtures}/plugins/instagram"; pluginId = "sna.instagram"; };
in
{
  homeserver = {
    serverName = "clarun.xyz";
    url = "http://127.0.0.2:8448/";
    allowRemote = false;
  };
  stateDirectory = "/srv/botrunner/state";
  secretKeyFile = "/run/secrets/botrunner-key";
  registrationTokenFile = "/run/secrets/registration-token";
  status = {
    address = "127.0.0.1";
    port = 29400;
    allowNonLoopback = false;
  };
  reservedPorts = [ 8008 29319 3000 9000 ];
  notifications = {
    room = "!admin:clarun.xyz";
    sender = "instagram-bot-1";
    maxPerMinute = 20;
  };
  logging.level = "DEBUG";
  plugins = [ instagram echo ];
  instances = {
    instagram-bot-1 = {
      enable = true;
      plugin = "sna.instagram";
      user = "@instagram-bot:clarun.xyz";
      passwordFile = "/run/secrets/instagram-password";
      displayname = "Instagram: \"the\" bot";
      roomSubscriptions = [
        "!abc123def:clarun.xyz"
        "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM"
        "!abc123def:clarun.xyz"
        "#family:clarun.xyz"
      ];
      commandPrefix = "!ig";
      features = {
        autoFetch = false;
        rateLimiting = false;
        caching = true;
      };
      rateLimit = {
        maxRequestsPerMinute = 60;
        burstSize = 60;
        backoffSeconds = 0;
      };
      errorNotificationLevel = "WARN";
      catchUpMaxAge = 0;
      settings = {
        max_file_size = 50000000;
        cookies_file = "/run/secrets/instagram-cookies";
      };
    };
    echo-1 = {
      enable = false;
      plugin = "botrunner.echo";
      user = "@echo:clarun.xyz";
      roomSubscriptions = [ ];
      catchUpMaxAge = 2592000;
      rateLimit.backoffSeconds = 86400;
    };
  };
}
