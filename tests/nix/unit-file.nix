# A unit's serviceConfig, as evaluated by tests/nix/module-eval.nix, written as a unit file
# the way NixOS writes it (a list is one line per item), for systemd-analyze --offline.
{ lib }:
unit:
let
  value = x: if builtins.isBool x then (if x then "yes" else "no") else toString x;
  line = k: x: if builtins.isList x then lib.concatMapStrings (e: "${k}=${value e}\n") x else "${k}=${value x}\n";
in
"[Unit]\nDescription=${unit.description}\n\n[Service]\n"
+ lib.concatStrings (lib.mapAttrsToList line unit.serviceConfig)
