# A remote homeserver without homeserver.allowRemote.
# expect: services.botrunner.homeserver.url: "https://matrix.example.org" is not on a loopback IP literal (127.0.0.1 or [::1]); set homeserver.allowRemote = true to use a remote https:// homeserver
# check: "https://matrix.example.org" is not on a loopback IP literal
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  plugins = [ echo ];
  homeserver.url = "https://matrix.example.org";
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/echo-password";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
  };
}
