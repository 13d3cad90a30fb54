# A Nix path value for a secret would be copied into the store. Built with /. + so that
# this test itself copies nothing (the renderer only asks isPath).
# expect: services.botrunner.secretKeyFile: is a Nix path value, which would copy the secret into the world-readable Nix store; give the file's location as a string ("/run/secrets/...")
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = /. + "/run/secrets/botrunner-key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
