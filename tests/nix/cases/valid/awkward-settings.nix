# Plugin settings that YAML could misread: every string must reach the runner unchanged,
# and every number, boolean and null as itself.
{ echo, fixtures }:
{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/botrunner-key";
  registrationTokenFile = "/run/secrets/registration-token";
  plugins = [ echo ];
  instances.awkward = {
    plugin = "botrunner.echo";
    user = "@awkward:clarun.xyz";
    roomSubscriptions = [ "!abc123def:clarun.xyz" ];
    displayname = "Ünïcødé ☃ \"quoted\" \\ back";
    commandPrefix = "#!";
    settings = {
      quotes = "say \"hi\" and 'bye'";
      backslashes = "C:\\path\\to \\n not a newline \\";
      unicode = "é ☃ 😀 中文 ok";
      newlines = "line one\nline two\n\n  indented\r\nwindows\ttab";
      looks_like_yaml = [ "" "true" "false" "null" "~" "yes" "no" "on" "123" "0755" "1e3" "0x1f" ".inf" "-" "- item" "key: value" "# not a comment" "&anchor" "*alias" "!tag" "%directive" "@at" "`tick" "|" ">" "{a: 1}" "[1, 2]" "  padded  " "${"$"}{interpolation}" "'" "\"" ];
      "key.with.dots" = 1;
      "key with spaces" = 2;
      "1digit-first" = 3;
      "-dash" = 4;
      "quote\"key" = 5;
      "colon: key" = 6;
      "über" = 7;
      "" = "the empty key";
      "two\nline key" = 8;
      numbers = [ 0 (-1) 42 9223372036854775807 2.5 (-0.25) 0.1 1.0e-7 1.5e30 1.0 ];
      flags = [ true false null ];
      nested = {
        list_of_maps = [ { name = "a"; tags = [ "x" "y" ]; } { name = "b"; deeper = [ { k = null; } ]; } ];
        list_of_lists = [ [ 1 2 ] [ ] [ [ "deep" ] ] ];
        empties = { list = [ ]; map = { }; maps = [ { } ]; lists = [ [ ] ]; };
      };
      null_value = null;
      enabled = true;
      disabled = false;
      token_count = 3;
    };
  };
}
