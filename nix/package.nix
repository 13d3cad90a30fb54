# The runner: built with the Makefile as on Debian, its cmocka unit tests run in checkPhase.
# libarchive, libcurl and libmicrohttpd are dlopen'ed, so their directories join the RUNPATH.
{
  lib,
  stdenv,
  pkg-config,
  sqlite,
  libcyaml,
  libyaml,
  systemdLibs,
  libsodium,
  jsmn,
  libarchive,
  curl,
  libmicrohttpd,
  cmocka,
  patchelf,
}:
let
  # One version, the Makefile's.
  version = builtins.head (builtins.match ".*\nVERSION +:= ([0-9][0-9.]*)\n.*" (builtins.readFile ../Makefile));
  dlopened = [
    libarchive
    curl
    libmicrohttpd
  ];
in
stdenv.mkDerivation {
  pname = "botrunner";
  inherit version;

  # Only what the build and the unit tests read: a change to docs/ or nixos/ alone does
  # not rebuild the runner.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Makefile
      ../README.md
      ../docs
      ../runner
      ../plugins
      ../tools/run-unit
      ../tests/unit
      ../tests/configs
      ../tests/fuzz/corpus
    ];
  };

  strictDeps = true;
  nativeBuildInputs = [
    pkg-config
    patchelf
  ];
  buildInputs = [
    sqlite
    libcyaml
    libyaml
    systemdLibs
    libsodium
    jsmn
  ] ++ map lib.getDev dlopened;
  nativeCheckInputs = [ ];
  checkInputs = [ cmocka ];

  postPatch = ''
    patchShebangs tools
  '';

  makeFlags = [ "PREFIX=${placeholder "out"}" ];
  enableParallelBuilding = true;

  doCheck = true;
  checkTarget = "unit";
  # The unit tests dlopen the three libraries too; their binaries carry no RUNPATH for them.
  preCheck = ''
    export LD_LIBRARY_PATH=${lib.makeLibraryPath (map lib.getLib dlopened)}''${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  '';

  # After fixup's --shrink-rpath, which would drop directories no DT_NEEDED entry uses.
  postFixup = ''
    patchelf --add-rpath ${lib.makeLibraryPath (map lib.getLib dlopened)} $out/bin/botrunner
  '';

  meta = {
    description = "Static-config, NixOS-first runner for Matrix bots";
    longDescription = ''
      Bot instances, their rooms and their plugins are declared (in Nix, rendered to YAML)
      and run by a small supervisor with one worker process per bot, a read-only status
      endpoint and a health check.
    '';
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "botrunner";
  };
}
