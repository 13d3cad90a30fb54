# A YAML writer for the rendered config: block style, every scalar in JSON's syntax (a JSON
# scalar is a YAML flow scalar), escaped where YAML and JSON differ. builtins only.
#
# keyOrder: mapping keys in this order first, the others after, alphabetically.
{ keyOrder ? [ ] }:
let
  inherit (builtins)
    all
    attrNames
    concatMap
    concatStringsSep
    fromJSON
    genList
    head
    isAttrs
    isBool
    isFloat
    isInt
    isList
    isString
    listToAttrs
    match
    replaceStrings
    sort
    stringLength
    substring
    toJSON
    typeOf
    ;
  inherit (import ./prelude.nix) imap0;
in
rec {

  rankOf = listToAttrs (imap0 (i: k: { name = k; value = i; }) keyOrder);
  rank = k: rankOf.${k} or 1000;
  sortKeys = ks: sort (a: b: rank a < rank b || (rank a == rank b && a < b)) ks;

  # toJSON leaves characters from U+007F up as they are, but YAML may not hold all of them
  # raw in double quotes: DEL, the C1 controls and U+FFFE/U+FFFF are refused by the reader,
  # NEL, LS and PS are line breaks (folded), and a BOM is best not left to chance.
  yamlEscaped =
    let
      hex = n: substring n 1 "0123456789ABCDEF";
      hex4 = n: concatStringsSep "" (map (shift: hex (n / shift - n / shift / 16 * 16)) [ 4096 256 16 1 ]);
      points = genList (i: 127 + i) 33 ++ [ 8232 8233 65279 65534 65535 ];
    in
    replaceStrings
      (map (n: fromJSON "\"\\u${hex4 n}\"") points)
      (map (n: "\\u${hex4 n}") points);
  quoted = s: yamlEscaped (toJSON s);
  scalar = v:
    if v == null then "null"
    else if isString v then quoted v
    # toJSON writes 1.0 as 1, which would read back as an integer.
    else if isFloat v then (let t = toJSON v; in if match ".*[.eE].*" t == null then "${t}.0" else t)
    else if isBool v || isInt v then toJSON v
    else throw "botrunner render: a ${typeOf v} cannot be written to YAML";
  yamlKey = k: if match "[A-Za-z_][A-Za-z0-9_]*" k != null then k else quoted k;
  isScalar = v: !(isAttrs v || isList v);

  # The lines of a value placed under a key or a list dash, indented by `ind`.
  block = ind: v:
    if isAttrs v then
      concatMap
        (k:
          let x = v.${k}; in
          if isScalar x || x == { } || x == [ ] || (isList x && all isScalar x) then [ "${ind}${yamlKey k}: ${inline x}" ]
          else [ "${ind}${yamlKey k}:" ] ++ block "${ind}  " x)
        (sortKeys (attrNames v))
    else if isList v then
      concatMap
        (x:
          if isScalar x || x == { } || x == [ ] then [ "${ind}- ${inline x}" ]
          else
            let ls = block "${ind}  " x; in
            [ "${ind}- ${substring (stringLength ind + 2) (-1) (head ls)}" ] ++ builtins.tail ls)
        v
    else [ "${ind}${scalar v}" ];
  inline = v:
    if isAttrs v then (if v == { } then "{}" else throw "botrunner render: inline mapping")
    else if isList v then "[${concatStringsSep ", " (map inline v)}]"
    else scalar v;

  toYAML = v: concatStringsSep "\n" (block "" v) + "\n";
}
