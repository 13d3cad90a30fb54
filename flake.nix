{
  description = "botrunner: a static-config, NixOS-first runner for Matrix bots";

  # A release with services.matrix-continuwuity (the VM test's homeserver).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      # builtins only, so that the outputs' shape evaluates without nixpkgs (tests/nix).
      forAllSystems =
        f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system;
          }) systems
        );
      pkgsFor =
        system:
        import nixpkgs {
          inherit system;
          overlays = [ self.overlays.default ];
        };
      render = import ./nixos/render.nix;
    in
    {
      overlays.default = final: _prev: {
        botrunner = final.callPackage ./nix/package.nix { };
        botrunnerPlugins = {
          echo = final.callPackage ./nix/echo.nix {
            buildPlugin = self.lib.buildPlugin final;
          };
        };
      };

      packages = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          default = pkgs.botrunner;
          echo = pkgs.botrunnerPlugins.echo;
        }
      );

      lib = {
        # buildPlugin pkgs { pluginId; version; src; runtimeDeps ? [ ]; ... }: see
        # nix/build-plugin.nix and docs/plugins.md.
        buildPlugin =
          pkgs:
          pkgs.callPackage ./nix/build-plugin.nix {
            botrunner = pkgs.botrunner or self.packages.${pkgs.stdenv.hostPlatform.system}.default;
          };
        # The renderer, for tooling and tests: option values -> YAML, errors, credentials.
        inherit (render)
          render
          errors
          credentials
          contract
          ;
      };

      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nixos/module.nix ];
          services.botrunner.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
      nixosModules.botrunner = self.nixosModules.default;

      devShells = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          # What `make check`, `make lint` and `make demo` use; the venv (Synapse,
          # matrix-nio, pytest) is made by tools/make-venv from PyPI as on Debian.
          default = pkgs.mkShell {
            inputsFrom = [ pkgs.botrunner ];
            packages = with pkgs; [
              cmocka
              clang
              clang-tools
              cppcheck
              python3
              libffi
              openssl
              nix
              sqlite
              curl
              time
              zip
              nixfmt
            ];
          };
        }
      );

      formatter = forAllSystems (system: nixpkgs.legacyPackages.${system}.nixfmt);

      checks = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          # The build; its checkPhase runs the unit tests.
          build = pkgs.botrunner;
          # The same unit tests under AddressSanitizer and UBSan.
          unit-asan = pkgs.botrunner.overrideAttrs (_: {
            pname = "botrunner-unit-asan";
            checkTarget = "unit-asan";
          });
          echo = pkgs.botrunnerPlugins.echo;
          vm = pkgs.testers.runNixOSTest (import ./checks/vm.nix { inherit self; });
        }
      );
    };
}
