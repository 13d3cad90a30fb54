#!/usr/bin/env bash
# The runner's runtime dependencies as far as this machine can tell: the libraries it links
# (DT_NEEDED) and those it dlopens, each with what they pull in (ldd), and the bytes of the
# library files. A stand-in for the Nix closure size, which needs a Nix build.
# Usage: bench/runtime-deps.sh [BINARY]   (default build/botrunner)
set -euo pipefail
bin=${1:-build/botrunner}
# Keep in step with the *_SONAME defines of runner/*/*_dl.[ch].
dlopened=(libarchive.so.13 libcurl.so.4 libmicrohttpd.so.12)

needed=$(readelf -d "$bin" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p')
echo "linked (DT_NEEDED): $(echo $needed)"
echo "dlopened on demand: ${dlopened[*]}"

# Resolve each library's path and its own dependencies through ldd.
# (awk reads to the end: leaving early would kill ldconfig with SIGPIPE, and pipefail with it)
resolve() { ldconfig -p | awk -v l="$1" '$1 == l && !found { print $NF; found = 1 }'; }
declare -A seen
closure() {
    local lib=$1 path
    path=$(resolve "$lib"); [[ -n $path ]] || { echo "  (not found: $lib)" >&2; return; }
    [[ -n ${seen[$path]:-} ]] && return
    seen[$path]=1
    while read -r dep; do closure "$dep"; done < <(ldd "$path" | awk '/=>/ { print $1 }')
}
for l in $needed "${dlopened[@]}"; do closure "$l"; done

total=0
printf '%-40s %10s  %s\n' library bytes package
for p in $(printf '%s\n' "${!seen[@]}" | sort); do
    real=$(readlink -f "$p"); size=$(stat -c %s "$real"); total=$((total + size))
    pkg=$( (dpkg -S "$p" || dpkg -S "/usr$p") 2>/dev/null | sed -n '1s/:.*//p' || true)
    printf '%-40s %10d  %s\n' "$(basename "$p")" "$size" "${pkg:-?}"
done
echo "${#seen[@]} libraries, $total bytes ($((total / 1024)) KiB) of shared objects," \
     "plus the binary: $(stat -c %s "$bin") bytes"
