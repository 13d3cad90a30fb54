# Secrets inline in plugin settings would land in the world-readable store (Nix only).
# Empty or null values, and keys that only contain a secret word, are not flagged.
# expect: services.botrunner.instances.echo-1.settings.api_token: looks like an inline secret: settings are rendered into the world-readable Nix store; have the plugin read the secret from a file instead
# expect: services.botrunner.instances.echo-1.settings.accounts[1].Password: looks like an inline secret: settings are rendered into the world-readable Nix store; have the plugin read the secret from a file instead
# expect: services.botrunner.instances.echo-1.settings.nested.apiKey: looks like an inline secret: settings are rendered into the world-readable Nix store; have the plugin read the secret from a file instead
# expect: services.botrunner.instances.echo-1.settings.nested.private_key: looks like an inline secret: settings are rendered into the world-readable Nix store; have the plugin read the secret from a file instead
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
    settings = {
      api_token = "abc";
      accounts = [ { password = ""; } { Password = "hunter2"; } ];
      nested = { apiKey = "k"; private_key = "-----BEGIN"; secret = null; password_file = "/run/secrets/x"; token_count = "3"; };
    };
  };
}
