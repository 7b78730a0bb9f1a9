#!/usr/bin/env bash
# Run HERE (the CPU machine), from the repo root, before a device session: fills the
# git-ignored folders that the device calls carry (a call sees only the repo and what it carries).
#   .whl/   wheels the device image lacks (compressai, pytorch-msssim, bjontegaard; cp312)
#   .gdata/ bsds500 (training) and kodim01-04 (validation crops, speed bench)     ~40 MB
#   .stage/ the bundled family's q1, q2, q4 (q3 is default.pt, which travels)   ~45 MB
# A call carries at most 64 MiB, the repo included. The three family files are tracked and
# would travel with every call, leaving no room for .gdata, so this script MOVES them out of
# the working tree into .stage/; `bench/device/prepare.sh restore` puts them back (do that
# before any commit). The first call (bench.sh) carries .whl .stage .gdata/kodak24, and
# setup.sh copies .stage into /tmp on the machine, where it outlives the next call (a carried
# path is removed from the machine by a later call that does not name it); the second call
# (train_family.sh), right after, carries .whl .gdata.
set -euo pipefail
WEIGHTS=src/sgaplus/weights
if [ "${1:-}" = restore ]; then
  mv .stage/sgaplus-msh-q*.pt "$WEIGHTS"/ && git status --short "$WEIGHTS"
  exit 0
fi
SHARED=${SHARED:-../shared}
for d in .whl .gdata .stage .site; do grep -qx "/$d/" .git/info/exclude || echo "/$d/" >> .git/info/exclude; done
mkdir -p .whl .stage .gdata/kodak24
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d .whl compressai==1.2.8 pytorch-msssim==1.0.0 bjontegaard==1.3.0
cp -ru "$SHARED/data/bsds500" .gdata/
cp -u "$SHARED"/data/kodak24/kodim0[1-4].png .gdata/kodak24/
for q in 1 2 4; do [ ! -f "$WEIGHTS/sgaplus-msh-q$q.pt" ] || mv "$WEIGHTS/sgaplus-msh-q$q.pt" .stage/; done
du -sh .whl .gdata .stage
