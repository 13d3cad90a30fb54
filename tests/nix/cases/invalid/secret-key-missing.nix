# No secret key file (Nix only: the file always names the credential).
# expect: services.botrunner.secretKeyFile: is required: a file of at least 32 bytes of random text (head -c 48 /dev/urandom | base64)
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
