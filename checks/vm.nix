# The NixOS VM test (pkgs.testers.runNixOSTest): continuwuity on 127.0.0.1 without federation,
# botrunner declared through the module with the echo plugin, and a person who registers
# with the token, makes the room, invites the bot and gets its pong. Then a switch to a
# specialisation with a second bot must reload the unit, not restart it; the health timer's
# service must succeed; `systemd-analyze security` is printed and held under a limit.
{ self }:
{ pkgs, lib, ... }:
let
  serverName = "botrunner.test";
  hs = "http://127.0.0.1:6167";
  # Test-only: the homeserver reads it from its own (world-readable) config. botrunner gets
  # it the production way, from a root-only file outside the store (see `secrets` below).
  registrationToken = "vm-test-registration-token";
  roomLocalpart = "botrunner-vm";
  room = "!${roomLocalpart}:${serverName}";
  bot = n: "@echo-${toString n}:${serverName}";
  # systemd-analyze security's "Overall exposure level" (0 best, 10 worst) may not exceed it.
  exposureLimit = "1.5";

  personPy = pkgs.writers.writePython3Bin "person" {
    libraries = [ pkgs.python3Packages.matrix-nio ];
    flakeIgnore = [ "E501" ];
  } (builtins.readFile ./person.py);
  # The test driver's shell is not a login shell: the environment is set here.
  person = pkgs.writeShellScriptBin "person" ''
    export HS=${hs} SERVER_NAME=${serverName} ROOM_LOCALPART=${roomLocalpart}
    export REGISTRATION_TOKEN=${registrationToken}
    exec ${lib.getExe personPy} "$@"
  '';

  echoInstance = n: {
    plugin = "botrunner.echo";
    user = bot n;
    roomSubscriptions = [ room ];
    commandPrefix = "!echo${toString n}";
  };
in
{
  name = "botrunner";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ self.nixosModules.default ];
      virtualisation.memorySize = 1536;

      services.matrix-continuwuity = {
        enable = true;
        settings.global = {
          server_name = serverName;
          address = [ "127.0.0.1" ];
          port = [ 6167 ];
          allow_federation = false;
          allow_registration = true;
          registration_token = registrationToken;
        };
      };

      # The secrets, made at boot outside the store, as sops-nix or agenix would place them.
      systemd.services.botrunner-test-secrets = {
        wantedBy = [ "botrunner.service" ];
        before = [ "botrunner.service" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          UMask = "0077";
        };
        script = ''
          install -d -m 0700 /run/secrets
          head -c 48 /dev/urandom | base64 > /run/secrets/botrunner-key
          printf %s ${registrationToken} > /run/secrets/registration-token
        '';
      };

      services.botrunner = {
        enable = true;
        homeserver = {
          serverName = serverName;
          url = hs;
        };
        secretKeyFile = "/run/secrets/botrunner-key";
        registrationTokenFile = "/run/secrets/registration-token";
        plugins = [ self.packages.${pkgs.stdenv.hostPlatform.system}.echo ];
        # No notifications: a notice posted before the person has made the room would be
        # refused, an ERROR that holds the health check at "degraded" for five minutes.
        instances.echo-1 = echoInstance 1;
      };

      # nixos-rebuild switch to this, in the test: one more bot, nothing else changed.
      specialisation.more.configuration = {
        services.botrunner.instances.echo-2 = echoInstance 2;
      };

      environment.systemPackages = [ person ];
    };

  testScript =
    { nodes, ... }:
    let
      more = "${nodes.machine.system.build.toplevel}/specialisation/more";
    in
    ''
      import re

      def worker_pid(instance):
          return machine.succeed(f"pgrep -f -- '--instance {instance} '").strip()

      machine.wait_for_unit("continuwuity.service")
      machine.wait_for_open_port(6167)
      machine.wait_for_unit("botrunner.service")
      machine.wait_for_open_port(29316)

      with subtest("the config is the rendered one, and holds no secret"):
          machine.succeed("botrunner check --no-credentials -c /etc/botrunner/botrunner.yaml")
          machine.fail("grep -F ${registrationToken} /etc/botrunner/botrunner.yaml")
          machine.succeed("test $(stat -c %U:%a /var/lib/botrunner) = botrunner:700")

      with subtest("a person registers, makes the room, and the bot answers"):
          machine.succeed("person setup ${bot 1} >&2")
          machine.succeed("person ping ${bot 1} '!echo1' >&2")

      with subtest("a new bot in the config reloads the unit; the running bot keeps its process"):
          main_pid = machine.succeed("systemctl show -P MainPID botrunner.service").strip()
          echo1 = worker_pid("echo-1")
          machine.succeed("${more}/bin/switch-to-configuration test >&2")
          machine.wait_until_succeeds("journalctl -u botrunner.service | grep -q 'Reloaded: 1 instance changed'")
          assert machine.succeed("systemctl show -P MainPID botrunner.service").strip() == main_pid, "botrunner was restarted"
          machine.succeed("person invite ${bot 2} >&2")
          machine.succeed("person ping ${bot 2} '!echo2' >&2")
          machine.succeed("person ping ${bot 1} '!echo1' >&2")
          assert worker_pid("echo-1") == echo1, "the unchanged bot's worker was restarted"

      with subtest("the health timer's service succeeds"):
          machine.succeed("systemctl list-timers botrunner-health.timer | grep -q botrunner-health")
          machine.succeed("systemctl start botrunner-health.service")
          machine.succeed("botrunner status >&2")

      with subtest("the secrets reach no log"):
          machine.fail("journalctl -u botrunner.service -u botrunner-health.service | grep -F ${registrationToken}")

      with subtest("systemd-analyze security"):
          out = machine.succeed("systemd-analyze security botrunner.service")
          print(out)
          m = re.search(r"Overall exposure level for botrunner.service: ([0-9.]+)", out)
          assert m, "no exposure level in the output"
          assert float(m.group(1)) <= ${exposureLimit}, f"exposure {m.group(1)} above ${exposureLimit}"
    '';
}
