# Small helpers that nixpkgs' lib would give, for the files of nixos/ that must evaluate
# with builtins alone (render.nix, grammar.nix, yaml.nix).
let
  inherit (builtins)
    elemAt
    foldl'
    genList
    length
    replaceStrings
    stringLength
    substring
    toJSON
    ;
in
rec {
  hasPrefix = p: s: substring 0 (stringLength p) s == p;
  optional = c: x: if c then [ x ] else [ ];
  optionals = c: xs: if c then xs else [ ];
  imap0 = f: xs: genList (i: f i (elemAt xs i)) (length xs);
  quote = toJSON; # a string as the runner prints it in its messages: "like this"
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = replaceStrings upper lower;
  # The first element of xs for which pred holds, with its index; null when none does.
  indexOf = pred: xs: foldl' (acc: i: if acc == null && pred (elemAt xs i) then i else acc) null (genList (i: i) (length xs));
}
