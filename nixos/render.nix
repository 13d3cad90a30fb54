# The renderer: services.botrunner option values -> the YAML contract of docs/configuration.md,
# the errors that `botrunner check` would report, and the credentials the unit must load.
#
# builtins only, no nixpkgs: `nix-instantiate --eval` tests it anywhere (tests/nix), and the
# module uses the same rules for its option types and assertions, so they cannot drift apart.
# Input: an attribute set shaped like the module's options (camelCase); anything left out
# takes the default in `defaults`. Every function here is pure.
#
# The grammars are in grammar.nix, the YAML writer in yaml.nix, small helpers in prelude.nix.
let
  inherit (builtins)
    all
    any
    attrNames
    concatLists
    concatMap
    concatStringsSep
    elem
    elemAt
    filter
    fromJSON
    genList
    head
    isAttrs
    isBool
    isFloat
    isInt
    isList
    isPath
    isString
    length
    match
    replaceStrings
    stringLength
    toJSON
    typeOf
    ;
  inherit (import ./prelude.nix) hasPrefix optional optionals imap0 quote toLower indexOf;
  inherit (import ./grammar.nix) patterns levels matches portOf validPort ipLiteral loopback dnsNameValid serverNameValid userIdOn roomIdValid roomValid parseUrl isLocalhost pathNormal pathUnder;

  # ---- defaults: the contract's, in the option names --------------------------------------

  defaults = {
    homeserver = {
      serverName = null;
      url = "http://127.0.0.1:6167";
      allowRemote = false;
    };
    stateDirectory = "/var/lib/botrunner";
    secretKeyFile = null;
    registrationTokenFile = null;
    status = {
      address = "127.0.0.1";
      port = 29316;
      allowNonLoopback = false;
    };
    reservedPorts = [ 8008 29319 3000 ];
    notifications = null;
    logging.level = "INFO";
    plugins = [ ];
    instances = { };
  };
  notificationDefaults = {
    room = null;
    sender = null;
    maxPerMinute = 10;
  };
  instanceDefaults = {
    enable = true;
    plugin = null;
    user = null;
    passwordFile = null;
    displayname = null;
    roomSubscriptions = [ ];
    commandPrefix = null;
    features = {
      autoFetch = true;
      rateLimiting = true;
      caching = false;
    };
    rateLimit = {
      maxRequestsPerMinute = 10;
      burstSize = 3;
      backoffSeconds = 30;
    };
    errorNotificationLevel = "ERROR";
    catchUpMaxAge = 3600;
    sendRate = 10;
    eventRetries = 1;
    settings = { };
  };
  limits = {
    string = 4096; # every string of the YAML is 1..4096 bytes
    burstSize = 60;
    backoffSeconds = 86400;
    catchUpMaxAge = 30 * 86400;
    sendRate = 1000;
    eventRetries = 10;
    notificationsPerMinute = 600;
    displayname = 256;
    instances = 10000;
    plugins = 1000;
    rooms = 1000;
  };

  # Option values with every default filled in; nested option sets merge one level deeper.
  normalize = cfg:
    let
      c = defaults // cfg;
      sub = name: defaults.${name} // (cfg.${name} or { });
    in
    c
    // {
      homeserver = sub "homeserver";
      status = sub "status";
      logging = sub "logging";
      notifications = if c.notifications == null then null else notificationDefaults // c.notifications;
      instances = if isAttrs c.instances then builtins.mapAttrs (_: normalizeInstance) c.instances else c.instances;
    };
  normalizeInstance = i:
    if !isAttrs i then i
    else
      instanceDefaults
      // i
      // {
        features = instanceDefaults.features // (i.features or { });
        rateLimit = instanceDefaults.rateLimit // (i.rateLimit or { });
      };

  # ---- credentials: what LoadCredential= passes, and the name the YAML uses ---------------

  credentialNames = {
    secretKey = "secret-key";
    registrationToken = "registration-token";
    password = id: "password-${id}";
  };
  # [ { name; path; option; } ] for every secret file that is set. toString turns a path
  # value into its text without copying it into the store (interpolation would copy it);
  # `errors` refuses such values anyway.
  credentials = cfg:
    let
      c = normalize cfg;
      entry = name: v: option: { inherit name option; path = if isPath v then toString v else v; };
    in
    optional (c.secretKeyFile != null) (entry credentialNames.secretKey c.secretKeyFile "secretKeyFile")
    ++ optional (c.registrationTokenFile != null) (entry credentialNames.registrationToken c.registrationTokenFile "registrationTokenFile")
    ++ concatMap
      (id:
        let i = c.instances.${id}; in
        optional (i.passwordFile != null) (entry (credentialNames.password id) i.passwordFile "instances.${id}.passwordFile"))
      (attrNames c.instances);

  # ---- the errors: `botrunner check`'s rules that need no file, in option paths -----------

  err = path: msg: "services.botrunner.${path}: ${msg}";

  # A secret file: an absolute path outside the Nix store, given as a string. A Nix path
  # value (./secret) would be copied into the store, world-readable, by the very evaluation.
  secretFileErrors = path: v:
    if v == null then [ ]
    else if isPath v then [ (err path "is a Nix path value, which would copy the secret into the world-readable Nix store; give the file's location as a string (\"/run/secrets/...\")") ]
    else if !isString v then [ (err path "expected a string (an absolute path), found ${typeOf v}") ]
    else if pathUnder "/nix/store" v then [ (err path "${quote v} is in the Nix store, which every local user can read; give a path outside the store (sops-nix, agenix, or a file only root can read)") ]
    else pathErrors path "" v;

  # An absolute path in normal form, as the runner's check_abs_path wants it; `what` starts
  # the messages ("state directory ", or nothing).
  pathErrors = path: what: v:
    if !isString v || !hasPrefix "/" v then [ (err path "${what}${quote v} must be an absolute path") ]
    else if stringLength v > limits.string then [ (err path "is longer than ${toString limits.string} bytes") ]
    else if !pathNormal v then [ (err path "${what}${quote v} must be in normal form (no \".\", \"..\", \"//\" or trailing \"/\")") ]
    else [ ];

  homeserverErrors = c:
    let
      hs = c.homeserver;
      u = parseUrl hs.url;
      local = u != null && loopback u.host;
    in
    (if hs.serverName == null then [ (err "homeserver.serverName" "is required: the domain of every bot's user id") ]
     else optional (!serverNameValid hs.serverName) (err "homeserver.serverName" "${quote hs.serverName} is not a valid server name (a DNS name or IP literal, optionally :port)"))
    ++ (if !isString hs.url then [ (err "homeserver.url" "expected a string") ]
        else if match ".*@.*" hs.url != null then [ (err "homeserver.url" "must not contain user information (\"user:password@\"): credentials belong in *File options") ]
        else if u == null then [ (err "homeserver.url" "${quote hs.url} must be http(s)://host[:port] with no path, query or fragment") ]
        else if u.host == "" then [ (err "homeserver.url" "${quote hs.url} has no host") ]
        else if u.port != null && !validPort (portOf u.port) then [ (err "homeserver.url" "${quote hs.url} has a port outside 1..65535") ]
        else if isLocalhost u.host then [ (err "homeserver.url" "${quote hs.url}: use the IP literal 127.0.0.1 instead of \"localhost\", which may resolve to ::1 first where the homeserver (conduwuit) does not listen") ]
        else if !ipLiteral u.host && !dnsNameValid u.host then [ (err "homeserver.url" "${quote hs.url}: ${quote u.host} is not a valid host name") ]
        else if !local && !hs.allowRemote then [ (err "homeserver.url" "${quote hs.url} is not on a loopback IP literal (127.0.0.1 or [::1]); set homeserver.allowRemote = true to use a remote https:// homeserver") ]
        else if !local && u.scheme != "https" then [ (err "homeserver.url" "${quote hs.url}: a remote homeserver must use https://, or access tokens would cross the network in clear text") ]
        else [ ]);

  # The homeserver's port when it is on loopback: the status endpoint may not take it.
  homeserverLoopbackPort = c:
    let u = parseUrl c.homeserver.url; in
    if u == null || !loopback u.host then null
    else if u.port == null then (if u.scheme == "https" then 443 else 80)
    else portOf u.port;

  stateDirectoryErrors = c:
    let
      s = c.stateDirectory;
      form = pathErrors "stateDirectory" "state directory " s;
    in
    if form != [ ] then form
    else if s == "/" then [ (err "stateDirectory" "the root directory cannot be the state directory") ]
    else concatMap (d: optional (pathUnder d s) (err "stateDirectory" "${quote s} is under ${d}, which is not a place for mutable state")) [ "/nix/store" "/proc" "/sys" "/dev" ];

  statusErrors = c:
    let
      st = c.status;
      a = st.address;
      hsPort = homeserverLoopbackPort c;
    in
    (if !isString a then [ (err "status.address" "expected a string") ]
     else if isLocalhost a then [ (err "status.address" "use the IP literal 127.0.0.1 instead of \"localhost\"") ]
     else if !ipLiteral a then [ (err "status.address" "${quote a} is not an IP literal") ]
     else optional (!loopback a && !st.allowNonLoopback) (err "status.address" "${quote a} is not loopback; the status endpoint stays on loopback unless status.allowNonLoopback is true"))
    ++ (if !validPort st.port then [ (err "status.port" "${toJSON st.port} is not a port (1..65535)") ]
        else if elem st.port c.reservedPorts then [ (err "status.port" "port ${toString st.port} is reserved (reservedPorts)") ]
        else optional (st.port == hsPort) (err "status.port" "port ${toString st.port} is the homeserver's"))
    ++ concatLists (imap0 (i: p: optional (!validPort p) (err "reservedPorts[${toString i}]" "${toJSON p} is not a port (1..65535)")) c.reservedPorts);

  pluginIdOf = p: if isAttrs p then p.pluginId or null else null;
  pluginIds = c: filter (x: x != null) (map pluginIdOf c.plugins);
  # Plugin ids are known when every plugin is a package made by lib.buildPlugin; a plain
  # path's id is only known to `botrunner check`, which runs on the rendered file.
  pluginIdsKnown = c: all (p: pluginIdOf p != null) c.plugins;

  pluginErrors = c:
    optional (length c.plugins > limits.plugins) (err "plugins" "more than ${toString limits.plugins} plugins")
    ++ concatLists (imap0
      (i: p:
        let id = pluginIdOf p; prev = indexOf (q: pluginIdOf q == id) c.plugins; in
        optional (id != null && !matches patterns.pluginId id) (err "plugins[${toString i}]" "${quote id} is not a plugin id ([a-z][a-z0-9._-]+)")
        ++ optional (id != null && prev != i) (err "plugins[${toString i}]" "plugin id ${quote id} is declared twice (also plugins[${toString prev}])"))
      c.plugins);

  levelError = path: v: optional (!elem v levels) (err path "${quote v} is not one of ${concatStringsSep ", " levels}");
  rangeError = path: v: lo: hi:
    if !isInt v then [ (err path "expected an integer, found ${typeOf v}") ]
    else optional (v < lo || v > hi) (err path "${toString v} is outside ${toString lo}..${toString hi}");

  # Keys that name a secret (any case, "-" or "_"): their string values would land in the
  # world-readable store.
  secretKey = k: match ".*(password|passwd|passphrase|secret|token|api_?key|private_?key)" (replaceStrings [ "-" ] [ "_" ] (toLower k)) != null;
  # A float that this Nix cannot write exactly (Nix 2.8's toJSON keeps 6 digits) is refused
  # rather than rounded behind the operator's back.
  floatExact = x: fromJSON (toJSON x) == x;
  settingsErrors = path: v:
    if isAttrs v then
      concatMap
        (k:
          let x = v.${k}; p = "${path}.${k}"; in
          (if secretKey k && isString x && x != "" then [ (err p "looks like an inline secret: settings are rendered into the world-readable Nix store; have the plugin read the secret from a file instead") ] else [ ])
          ++ settingsErrors p x)
        (attrNames v)
    else if isList v then concatLists (imap0 (i: x: settingsErrors "${path}[${toString i}]" x) v)
    else if isFloat v && !floatExact v then [ (err path "the float ${toJSON v}... cannot be written exactly by this version of Nix (its toJSON keeps 6 significant digits); give it as a string, or with fewer digits") ]
    else [ ];

  instanceErrors = c: id: i:
    let
      p = "instances.${id}";
      server = c.homeserver.serverName;
      known = pluginIds c;
    in
    optional (!matches patterns.instanceId id) (err p "${quote id} is not a valid instance id ([a-z0-9-]+, at most 64 bytes)")
    ++ (if i.plugin == null then [ (err "${p}.plugin" "is required: the id of a plugin in services.botrunner.plugins") ]
        else if !matches patterns.pluginId i.plugin then [ (err "${p}.plugin" "${quote i.plugin} is not a plugin id ([a-z][a-z0-9._-]+)") ]
        else optional (pluginIdsKnown c && !elem i.plugin known)
          (err "${p}.plugin" "${quote i.plugin} is not the id of any plugin in services.botrunner.plugins (${if known == [ ] then "none is declared" else "declared: ${concatStringsSep ", " known}"})"))
    ++ (if i.user == null then [ (err "${p}.user" "is required: the bot's Matrix user id") ]
        else optional (isString server && !userIdOn server i.user)
          (err "${p}.user" "${quote i.user} is not a valid user id on ${server} (expected @localpart:${server}, localpart of a-z, 0-9 and -)"))
    ++ secretFileErrors "${p}.passwordFile" i.passwordFile
    ++ optional (i.passwordFile == null && c.registrationTokenFile == null)
      (err p "no way to authenticate: set passwordFile here, or registrationTokenFile so the bot can register")
    ++ optional (i.displayname == "") (err "${p}.displayname" "is empty; leave it null for none")
    ++ optional (i.displayname != null && (!isString i.displayname || stringLength i.displayname > limits.displayname || match ".*[\n\r\t].*" i.displayname != null))
      (err "${p}.displayname" "must be one line of at most ${toString limits.displayname} bytes")
    # One word: the runner's whitespace is space, tab, CR and LF (not \v or \f).
    ++ optional (i.commandPrefix != null && !(isString i.commandPrefix && stringLength i.commandPrefix <= 32 && match ".*[ \t\r\n].*" i.commandPrefix == null && i.commandPrefix != ""))
      (err "${p}.commandPrefix" "${quote i.commandPrefix} must be one word of at most 32 bytes")
    ++ (if !isList i.roomSubscriptions then [ (err "${p}.roomSubscriptions" "expected a list of room ids") ]
        else
          optional (length i.roomSubscriptions > limits.rooms) (err "${p}.roomSubscriptions" "more than ${toString limits.rooms} rooms")
          ++ concatLists (imap0
            (n: r:
              let rp = "${p}.roomSubscriptions[${toString n}]"; in
              optional (!roomValid r) (err rp "${quote r} is not a valid room id (!opaque:server) or alias (#alias:server)"))
            i.roomSubscriptions))
    ++ rangeError "${p}.rateLimit.maxRequestsPerMinute" i.rateLimit.maxRequestsPerMinute 1 60
    ++ rangeError "${p}.rateLimit.burstSize" i.rateLimit.burstSize 1 limits.burstSize
    ++ rangeError "${p}.rateLimit.backoffSeconds" i.rateLimit.backoffSeconds 0 limits.backoffSeconds
    ++ rangeError "${p}.catchUpMaxAge" i.catchUpMaxAge 0 limits.catchUpMaxAge
    ++ rangeError "${p}.sendRate" i.sendRate 1 limits.sendRate
    ++ rangeError "${p}.eventRetries" i.eventRetries 0 limits.eventRetries
    ++ levelError "${p}.errorNotificationLevel" i.errorNotificationLevel
    ++ concatMap (f: optional (!isBool i.features.${f}) (err "${p}.features.${f}" "expected a boolean")) (attrNames i.features)
    ++ (if !isAttrs i.settings then [ (err "${p}.settings" "expected an attribute set of plugin settings") ]
        else settingsErrors "${p}.settings" i.settings);

  # One account per instance: two instances with one user would fight over its sync token.
  # Grouped by user, so a thousand instances cost a thousand steps, not a million.
  uniqueUserErrors = c:
    let
      ids = filter (id: isString c.instances.${id}.user) (attrNames c.instances);
      byUser = builtins.groupBy (id: c.instances.${id}.user) ids;
    in
    concatMap
      (u:
        let group = byUser.${u}; in
        map (id: err "instances.${id}.user" "user ${quote u} is not unique (also instances.${head group}); each instance needs its own account")
          (builtins.tail group))
      (attrNames byUser);

  notificationErrors = c:
    let nt = c.notifications; in
    if nt == null then [ ]
    else
      (if nt.room == null then [ (err "notifications.room" "is required: the room id of the admin room") ]
       else optional (!roomValid nt.room) (err "notifications.room" "${quote nt.room} is not a valid room id (!opaque:server) or alias (#alias:server)"))
      ++ (if nt.sender == null then [ (err "notifications.sender" "is required: the instance whose account posts the notices") ]
          else if !(c.instances ? ${nt.sender}) then [ (err "notifications.sender" "${quote nt.sender} is not the id of a declared instance") ]
          else optional (!c.instances.${nt.sender}.enable) (err "notifications.sender" "instance ${quote nt.sender} is disabled, so it cannot post notifications"))
      ++ rangeError "notifications.maxPerMinute" nt.maxPerMinute 1 limits.notificationsPerMinute;

  errors = cfg:
    let c = normalize cfg; in
    if !isAttrs c.instances then [ (err "instances" "expected an attribute set of instances") ]
    else if !isList c.plugins then [ (err "plugins" "expected a list of plugin packages") ]
    else
      homeserverErrors c
      ++ stateDirectoryErrors c
      ++ (if c.secretKeyFile == null then [ (err "secretKeyFile" "is required: a file of at least 32 bytes of random text (head -c 48 /dev/urandom | base64)") ] else secretFileErrors "secretKeyFile" c.secretKeyFile)
      ++ secretFileErrors "registrationTokenFile" c.registrationTokenFile
      ++ statusErrors c
      ++ levelError "logging.level" c.logging.level
      ++ pluginErrors c
      ++ optional (length (attrNames c.instances) > limits.instances) (err "instances" "more than ${toString limits.instances} instances")
      ++ concatMap (id: instanceErrors c id c.instances.${id}) (attrNames c.instances)
      ++ uniqueUserErrors c
      ++ notificationErrors c;

  # Two instances with one command prefix in a shared room would both answer: warned once
  # per instance, on the later one, naming the first earlier one and a room they share.
  prefixWarnings = c:
    let
      ids = filter (id: isString c.instances.${id}.commandPrefix && isList c.instances.${id}.roomSubscriptions) (attrNames c.instances);
      byPrefix = builtins.groupBy (id: c.instances.${id}.commandPrefix) ids;
      roomsOf = id: c.instances.${id}.roomSubscriptions;
      shared = a: b: filter (r: elem r (roomsOf a)) (roomsOf b);
      later = group: n:
        let
          id = elemAt group n;
          first = indexOf (other: shared other id != [ ]) (genList (elemAt group) n);
          other = elemAt group first;
        in
        optional (first != null)
          (err "instances.${id}.commandPrefix" "${quote c.instances.${id}.commandPrefix} is also the command prefix of instances.${other} in room ${quote (head (shared other id))}: both bots would answer");
    in
    concatMap (p: let group = byPrefix.${p}; in concatLists (genList (later group) (length group))) (attrNames byPrefix);

  # What `botrunner check` would only warn about, for the module's `warnings`.
  warnings = cfg:
    let c = normalize cfg; in
    prefixWarnings c
    ++ concatMap
      (id:
        let i = c.instances.${id}; rs = i.roomSubscriptions; in
        optional (isList rs && rs == [ ]) (err "instances.${id}.roomSubscriptions" "empty: this instance will not serve any room")
        ++ optionals (isList rs) (concatLists (imap0 (n: r: optional (indexOf (x: x == r) rs != n) (err "instances.${id}.roomSubscriptions[${toString n}]" "room ${quote r} is listed more than once")) rs)))
      (if isAttrs c.instances then attrNames c.instances else [ ]);

  # ---- the contract: the YAML's data, keys as the runner reads them -----------------------

  optionalAttr = name: v: if v == null then { } else { ${name} = v; };

  contract = cfg:
    let c = normalize cfg; in
    {
      homeserver = {
        server_name = c.homeserver.serverName;
        url = c.homeserver.url;
        allow_remote = c.homeserver.allowRemote;
      };
      state_directory = c.stateDirectory;
      secret_key_file = credentialNames.secretKey;
      status = {
        address = c.status.address;
        port = c.status.port;
        allow_non_loopback = c.status.allowNonLoopback;
      };
      reserved_ports = c.reservedPorts;
      logging.level = c.logging.level;
      # toString keeps a package's store path and its string context: the rendered file
      # then depends on the plugins it names.
      plugins = map (p: { path = toString p; }) c.plugins;
      instances = map (id: instanceContract id c.instances.${id}) (attrNames c.instances);
    }
    // optionalAttr "registration_token_file" (if c.registrationTokenFile == null then null else credentialNames.registrationToken)
    // optionalAttr "notifications" (if c.notifications == null then null else {
      inherit (c.notifications) room sender;
      max_per_minute = c.notifications.maxPerMinute;
    });

  instanceContract = id: i:
    {
      inherit id;
      inherit (i) plugin user;
      enabled = i.enable;
      room_subscriptions = i.roomSubscriptions;
      features = {
        auto_fetch = i.features.autoFetch;
        rate_limiting = i.features.rateLimiting;
        caching = i.features.caching;
      };
      rate_limit = {
        max_requests_per_minute = i.rateLimit.maxRequestsPerMinute;
        burst_size = i.rateLimit.burstSize;
        backoff_seconds = i.rateLimit.backoffSeconds;
      };
      error_notification_level = i.errorNotificationLevel;
      catch_up_max_age = i.catchUpMaxAge;
      send_rate = i.sendRate;
      event_retries = i.eventRetries;
      config = i.settings;
    }
    // optionalAttr "password_file" (if i.passwordFile == null then null else credentialNames.password id)
    // optionalAttr "displayname" i.displayname
    // optionalAttr "command_prefix" i.commandPrefix;

  # Keys in the order docs/configuration.md lists them; others (plugin settings) sort after.
  keyOrder = [
    "id" "plugin" "user" "password_file" "enabled" "displayname" "room_subscriptions" "command_prefix"
    "features" "auto_fetch" "rate_limiting" "caching" "rate_limit" "max_requests_per_minute"
    "burst_size" "backoff_seconds" "error_notification_level" "catch_up_max_age" "send_rate" "event_retries" "config"
    "homeserver" "server_name" "url" "allow_remote" "state_directory" "secret_key_file"
    "registration_token_file" "status" "address" "port" "allow_non_loopback" "reserved_ports"
    "notifications" "room" "sender" "max_per_minute" "logging" "level" "plugins" "path" "instances"
  ];
  inherit (import ./yaml.nix { inherit keyOrder; }) toYAML;


  header = "# Rendered by the botrunner NixOS module from services.botrunner; edit the Nix, not this.\n"
    + "# Secrets are not here: *_file values name credentials passed by LoadCredential=.\n";

  # The YAML text as is: the module guards it with assertions built from `errors`.
  text = cfg: header + toYAML (contract cfg);

  # The YAML text, or an evaluation error listing every problem at once.
  render = cfg:
    let e = errors cfg; in
    if e != [ ] then throw "services.botrunner has ${toString (length e)} error${if length e == 1 then "" else "s"}:\n${concatStringsSep "\n" e}"
    else text cfg;
in
{
  inherit
    defaults
    instanceDefaults
    notificationDefaults
    limits
    levels
    patterns
    normalize
    credentialNames
    credentials
    errors
    warnings
    contract
    toYAML
    text
    render
    serverNameValid
    userIdOn
    roomIdValid
    roomValid
    ;
}
