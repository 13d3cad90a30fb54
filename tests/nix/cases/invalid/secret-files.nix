# Secret files in the store, relative, not in normal form, or not a string at all.
# expect: services.botrunner.secretKeyFile: "/nix/store/0000000000000000000000000000000-key" is in the Nix store, which every local user can read; give a path outside the store (sops-nix, agenix, or a file only root can read)
# expect: services.botrunner.registrationTokenFile: "run/secrets/registration-token" must be an absolute path
# expect: services.botrunner.instances.echo-1.passwordFile: "/run/secrets//echo-password" must be in normal form (no ".", "..", "//" or trailing "/")
# expect: services.botrunner.instances.echo-2.passwordFile: expected a string (an absolute path), found int
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/nix/store/0000000000000000000000000000000-key";
  registrationTokenFile = "run/secrets/registration-token";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets//echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
  instances.echo-2 = {
    plugin = "botrunner.echo";
    user = "@echo-2:clarun.xyz";
    passwordFile = 42;
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
