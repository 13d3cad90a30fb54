# lib.buildPlugin: a botrunner plugin built from C sources against plugin.h. $out is the
# plugin directory the runner loads (maubot.yaml beside the modules); $mbp the .mbp package.
#
# The modules come from maubot.yaml's `modules: [name.so]`; with one module every .c file of
# the source root is compiled into it (give buildPhase for anything else). installCheck runs
# `botrunner check` on a config that uses the plugin: the id and version must be the ones
# given here, and the manifest one the runner accepts.
{
  lib,
  stdenv,
  botrunner,
}:
{
  pluginId,
  version,
  src,
  pname ? "botrunner-plugin-${pluginId}",
  # Programs the plugin runs (yt-dlp): the NixOS module puts them on the unit's PATH.
  runtimeDeps ? [ ],
  # Whether the plugin reaches hosts other than the homeserver (yt-dlp does). When no
  # plugin does, the module lets the unit talk to loopback addresses only.
  needsInternet ? false,
  ...
}@args:
let
  # The modules maubot.yaml lists (`modules: [a.so, b.so]`), into $modules.
  readModules = file: ''
    modules=$(sed -nE 's/^modules: *\[(.*)\].*$/\1/p' ${file} | tr -d ' "' | tr ',' ' ')
    [ -n "$modules" ] || { echo "${file} lists no modules" >&2; exit 1; }
  '';
in
stdenv.mkDerivation (
  {
    inherit pname version src;
    outputs = [
      "out"
      "mbp"
    ];
    # The runtimeDeps too: the install check proves the dependencies (yt-dlp --version).
    nativeBuildInputs = [ botrunner ] ++ runtimeDeps ++ (args.nativeBuildInputs or [ ]);

    buildPhase = ''
      runHook preBuild
      ${readModules "maubot.yaml"}
      case "$modules" in
        *" "*) echo "several modules ($modules): give a buildPhase" >&2; exit 1 ;;
      esac
      $CC -shared -fPIC -fvisibility=hidden -O2 -g -std=gnu11 -Wall -Wextra \
        -I${botrunner}/include -o "$modules" *.c
      runHook postBuild
    '';

    installPhase = ''
      runHook preInstall
      ${readModules "maubot.yaml"}
      install -Dm644 maubot.yaml $out/maubot.yaml
      for m in $modules; do install -Dm755 "$m" "$out/$m"; done
      mkdir -p $mbp
      runHook postInstall
    '';

    # The package is packed from the final (stripped) files by the runner itself: sorted
    # entries, fixed times and modes (the same sources give the same bytes), and read back
    # with the runner's own rules before it is kept.
    postFixup = ''
      botrunner plugin pack $out -o $mbp/${pluginId}-v${version}.mbp
    '';

    doInstallCheck = true;
    installCheckPhase = ''
      runHook preInstallCheck
      grep -qx 'id: ${pluginId}' $out/maubot.yaml || { echo "maubot.yaml's id is not ${pluginId}" >&2; exit 1; }
      grep -qx 'version: ${version}' $out/maubot.yaml || { echo "maubot.yaml's version is not ${version}" >&2; exit 1; }
      cat > check.yaml <<YAML
      homeserver: {server_name: example.org, url: "http://127.0.0.1:6167"}
      state_directory: /var/lib/botrunner
      secret_key_file: secret-key
      registration_token_file: registration-token
      plugins: [{path: $out}]
      instances: [{id: check, plugin: ${pluginId}, user: "@check:example.org", room_subscriptions: ["!check:example.org"]}]
      YAML
      botrunner check --no-credentials -c check.yaml
      botrunner plugin inspect $mbp/${pluginId}-v${version}.mbp
      runHook postInstallCheck
    '';

    passthru = {
      inherit pluginId runtimeDeps needsInternet;
      mbpName = "${pluginId}-v${version}.mbp";
    } // (args.passthru or { });

    meta = {
      platforms = lib.platforms.linux;
    } // (args.meta or { });
  }
  // removeAttrs args [
    "pluginId"
    "runtimeDeps"
    "needsInternet"
    "nativeBuildInputs"
    "passthru"
    "meta"
  ]
)
