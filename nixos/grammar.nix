# The grammars of the YAML contract, as the runner applies them: identifiers, server names,
# room ids, URLs, IPv4 and IPv6 literals (as inet_pton reads them) and paths. builtins only.
let
  inherit (builtins)
    all
    any
    elem
    elemAt
    filter
    foldl'
    fromJSON
    genList
    head
    isInt
    isString
    length
    listToAttrs
    match
    stringLength
    substring
    ;
  inherit (import ./prelude.nix) hasPrefix imap0 toLower;
in
rec {
  # Regular expressions where they suffice, parsers where they do not.

  # Option types use these (module.nix). Where a type's pattern is looser than the runner
  # (roomId, roomAlias), render.nix's `errors` applies the exact rule (roomValid).
  patterns = {
    instanceId = "[a-z0-9-]{1,64}";
    pluginId = "[a-z][a-z0-9._-]{1,63}";
    localpart = "[a-z0-9-]+";
    roomId = "![!-9;-~]+:.+|![A-Za-z0-9_-]{43}";
    roomAlias = "#[^: [:cntrl:]]+:.+";
  };
  levels = [ "DEBUG" "INFO" "WARN" "ERROR" "CRITICAL" ];

  matches = re: s: isString s && match re s != null;
  # A decimal without leading zeros' trouble: fromJSON refuses "08", so they go first.
  decimal = s: fromJSON (head (match "0*([0-9]+)" s));
  # A port as the runner reads one: 1..5 digits, 1..65535; null otherwise.
  portOf = s: if matches "[0-9]{1,5}" s then decimal s else null;
  validPort = p: isInt p && p >= 1 && p <= 65535;

  # IPv4 as inet_pton reads it: four decimal octets without leading zeros. The octets, or null.
  ipv4Octets = s:
    let
      octet = "(0|[1-9][0-9]{0,2})";
      m = if isString s then match "${octet}[.]${octet}[.]${octet}[.]${octet}" s else null;
      o = if m == null then null else map fromJSON m;
    in
    if o != null && all (x: x <= 255) o then o else null;

  hexDigits = listToAttrs (imap0 (i: c: { name = c; value = i; })
    [ "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "a" "b" "c" "d" "e" "f" ]);
  hexValue = h: foldl' (acc: i: acc * 16 + hexDigits.${substring i 1 (toLower h)}) 0 (genList (i: i) (stringLength h));

  # One side of an IPv6 "::": its 16-bit groups; an IPv4 tail (allowed on the right) is two.
  ipv6Side = allowV4: str:
    let
      gs = if str == "" then [ ] else filter isString (builtins.split ":" str);
      n = length gs;
      v4 = if allowV4 && n > 0 then ipv4Octets (elemAt gs (n - 1)) else null;
      hex = if v4 != null then genList (elemAt gs) (n - 1) else gs;
    in
    if any (g: !matches "[0-9A-Fa-f]{1,4}" g) hex then null
    else map hexValue hex ++ (if v4 == null then [ ] else [ (elemAt v4 0 * 256 + elemAt v4 1) (elemAt v4 2 * 256 + elemAt v4 3) ]);

  # IPv6 as inet_pton reads it: the eight groups, or null.
  ipv6Groups = s:
    let
      parts = if isString s then filter isString (builtins.split "::" s) else [ ];
      whole = ipv6Side true (head parts);
      left = ipv6Side false (elemAt parts 0);
      right = ipv6Side true (elemAt parts 1);
    in
    if length parts == 1 then (if whole != null && length whole == 8 then whole else null)
    else if length parts == 2 && left != null && right != null && length left + length right <= 7
    then left ++ genList (_: 0) (8 - length left - length right) ++ right
    else null;

  unbracket = s: if isString s && hasPrefix "[" s && match ".*[]]" s != null then substring 1 (stringLength s - 2) s else s;
  # The runner's addr_classify: an IP literal (IPv6 with or without brackets), and loopback.
  ipLiteral = s: ipv4Octets s != null || ipv6Groups (unbracket s) != null;
  loopback = s:
    let o = ipv4Octets s; in
    (o != null && head o == 127) || ipv6Groups (unbracket s) == [ 0 0 0 0 0 0 0 1 ];

  # A DNS name as the runner's dns_name_is_valid: labels of 1..63 letters, digits and "-",
  # at most 230 bytes in all.
  dnsNameValid = s: matches "[-A-Za-z0-9]{1,63}([.][-A-Za-z0-9]{1,63})*" s && stringLength s <= 230;

  # A server name: a DNS name, or an IPv6 literal in brackets, then maybe ":port".
  serverNameValid = s:
    let
      # "[v6]:port" splits at "]" into "[v6" and ":port" (or ""); std::regex has no [^]].
      v6 = filter isString (builtins.split "[]]" s);
      v6Port = match "(:(.*))?" (elemAt v6 1);
      named = match "([^:]*)(:(.*))?" s;
      portOk = p: p == null || validPort (portOf p);
    in
    isString s && stringLength s <= 255
    && (if hasPrefix "[" s then
          length v6 == 2 && v6Port != null && ipv6Groups (substring 1 (-1) (head v6)) != null && portOk (elemAt v6Port 1)
        else named != null && dnsNameValid (head named) && portOk (elemAt named 2));
  userIdOn = server: s:
    isString s && stringLength s <= 255
    && (let m = match "@(${patterns.localpart}):(.*)" s; in m != null && elemAt m 1 == server);
  # !opaque:server (opaque: printable ASCII but ':', up to the first colon), or a v12 id.
  roomIdValid = s:
    let m = if isString s then match "!([!-9;-~]+):(.*)" s else null; in
    isString s && stringLength s <= 255
    && (matches "![A-Za-z0-9_-]{43}" s || (m != null && serverNameValid (elemAt m 1)));
  # #alias:server (alias: no control, space or ':'), resolved by the bot when it starts.
  roomAliasValid = s:
    let m = if isString s then match "#([^: [:cntrl:]]+):(.*)" s else null; in
    isString s && stringLength s <= 255 && m != null && serverNameValid (elemAt m 1);
  # What room_subscriptions and notifications.room take: a room id or an alias.
  roomValid = s: roomIdValid s || roomAliasValid s;

  # http(s)://host[:port][/]: scheme, host (an IPv6 literal keeps its brackets), port or null.
  parseUrl = u:
    let m = if isString u then match "(https?)://(\\[[-0-9A-Za-z:.%]*[]]|[^:/?#@]*)(:([0-9]*))?/?" u else null; in
    if m == null then null else { scheme = elemAt m 0; host = elemAt m 1; port = elemAt m 3; };

  isLocalhost = s: elem (toLower s) [ "localhost" "localhost." ];
  # Absolute and in normal form: no ".", "..", "//" or trailing "/".
  pathNormal = s:
    isString s && hasPrefix "/" s
    && (s == "/" || (match ".*(//|/[.]{1,2}/).*" s == null && match ".*(/[.]{1,2}|/)" s == null));
  pathUnder = dir: s: s == dir || hasPrefix "${dir}/" s;
}
