#!/usr/bin/env bash
# Run HERE (the CPU machine), from the repo root, before a device session: fills the
# git-ignored folders that the device calls carry (the device sees only the repo).
#   .whl/   wheels the device image lacks (compressai, pytorch-msssim, bjontegaard; cp312)
#   .warm/  the warm starts of q1, q2, q4 (q3 starts from the bundled default)   ~42 MB
#   .gdata/ bsds500 (training) and kodim01-04 (validation crops, speed bench)     ~40 MB
# One call may carry 64 MiB with the repo, so bench.sh carries .whl .gdata/kodak24 and
# train_family.sh carries .whl .gdata. A carried path that a later call does not name is
# removed from the machine: .warm reaches train_family.sh only if that call carries it
# (then with part of .gdata/bsds500 to stay under the limit).
set -euo pipefail
SHARED=${SHARED:-../shared}
for d in .whl .warm .gdata .site; do grep -qx "/$d/" .git/info/exclude || echo "/$d/" >> .git/info/exclude; done
mkdir -p .whl .warm .gdata/kodak24
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d .whl compressai==1.2.8 pytorch-msssim==1.0.0 bjontegaard==1.3.0
for l in 0.0035 0.0067 0.025; do cp -u "$SHARED/models/msh_N128_M192_lmbda$l.pt" .warm/; done
cp -ru "$SHARED/data/bsds500" .gdata/
cp -u "$SHARED"/data/kodak24/kodim0[1-4].png .gdata/kodak24/
du -sh .whl .warm .gdata
