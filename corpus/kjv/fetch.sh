#!/usr/bin/env bash
# Rebuilds the default model's corpus: the King James Version of the Bible (1611; public domain) from Debian's
# bible-kjv-text package, decoded by the package's own `bible` program. Writes train.txt and heldout.txt here:
# one verse per line (references dropped), a blank line between chapters; every 20th chapter is held out.
# heldout.txt is committed (the tests score it); train.txt is not (rebuild it with this script).
set -euo pipefail
cd "$(dirname "$0")"
version=4.38
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # apt-get download runs as _apt where it can

(cd "$work" && apt-get download "bible-kjv-text=$version" "bible-kjv=$version" >/dev/null)
(cd "$work" && sha256sum -c --quiet) <<SUMS
d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a  bible-kjv-text_${version}_all.deb
75a49c032a6efa9faa2beb4a9acb70974380122906329d0e100de36cc88ff02d  bible-kjv_${version}_amd64.deb
SUMS
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done

# -f turns pretty-printing off (one "Book C:V text" line per verse); -m raises the text buffer to hold it all.
"$work/root/usr/bin/bible" -p "$work/root/usr/lib" -f -m 8 "gen1:1-rev22:21" > "$work/verses.txt"

awk -v train=train.txt -v heldout=heldout.txt '
  match($0, /^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ /) {
    ref = substr($0, 1, RLENGTH - 1); text = substr($0, RLENGTH + 1)
    split(ref, part, ":"); chapter_ref = part[1]
    if (chapter_ref != last) {
      chapters++; last = chapter_ref
      out = (chapters % 20 == 0) ? heldout : train
      if (seen[out]++) print "" > out
    }
    print text > out
  }' "$work/verses.txt"
sha256sum train.txt heldout.txt
