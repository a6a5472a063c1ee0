#!/usr/bin/env bash
# Fetch the website's offline assets from a package registry, once: MathJax 3 from npm into _static/mathjax/
# (git-ignored). The built site then renders math with no internet and loads nothing from a CDN.
# Idempotent: a second run only checks the pinned version is there. Needs npm (Debian: apt-get install npm).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[assets] %s\n' "$*"; }
die() { printf '[assets] ERROR: %s\n' "$*" >&2; exit 1; }

MATHJAX_VERSION=3.2.2
# sha512 of mathjax-3.2.2.tgz as published on the npm registry (npm view mathjax@3.2.2 dist.integrity)
MATHJAX_INTEGRITY="sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
DEST=_static/mathjax
STAMP="$DEST/.version"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "mathjax@$MATHJAX_VERSION" ] && [ -f "$DEST/tex-chtml.js" ] \
   && [ -f "$DEST/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff" ]; then
  say "MathJax $MATHJAX_VERSION already in $DEST"
  exit 0
fi

command -v npm >/dev/null 2>&1 || die "install npm (apt-get install npm): it fetches MathJax for offline math"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "fetching mathjax@$MATHJAX_VERSION from the npm registry ($(npm config get registry 2>/dev/null || echo '?'))"
(cd "$tmp" && npm pack --loglevel=error --fetch-retries=1 --fetch-timeout=60000 "mathjax@$MATHJAX_VERSION" >/dev/null 2>"$tmp/npm.log") \
  || die "could not download mathjax@$MATHJAX_VERSION from the npm registry (offline, or no access to it?): $(head -n 2 "$tmp/npm.log" | tr "\n" " ")"
tgz="$tmp/mathjax-$MATHJAX_VERSION.tgz"
[ -f "$tgz" ] || die "npm pack did not produce $(basename "$tgz")"
got="sha512-$(python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tgz")"
[ "$got" = "$MATHJAX_INTEGRITY" ] || die "mathjax-$MATHJAX_VERSION.tgz has checksum $got, expected $MATHJAX_INTEGRITY"
tar -xzf "$tgz" -C "$tmp"
[ -f "$tmp/package/es5/tex-chtml.js" ] || die "the mathjax package has no es5/tex-chtml.js"

# Replace atomically-enough: build next to the destination, then swap.
rm -rf "$DEST.new"
cp -r "$tmp/package/es5" "$DEST.new"
cp "$tmp/package/LICENSE" "$DEST.new/LICENSE"
echo "mathjax@$MATHJAX_VERSION" > "$DEST.new/.version"
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
say "MathJax $MATHJAX_VERSION installed in $DEST ($(du -sh "$DEST" | cut -f1))"
