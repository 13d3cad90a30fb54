# A plugin given as a plain directory, not a lib.buildPlugin package: its id is unknown to
# Nix, so the instance's plugin is left for `botrunner check` to match.
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ "${fixtures}/plugins/instagram" echo ];
  instances.instagram = {
    plugin = "sna.instagram";
    user = "@instagram:clarun.xyz";
    passwordFile = "/run/secrets/instagram-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
