"""Issue 17 item 5: final true loss after 100 iterations, sgaplus Refiner vs the reference loop
(bench/refine_speed.py's), SSL, warm-start λ=0.0067 model, 256x256 crop of kodim13 (outdoor), seeds 0-5.

    python bench/refine_early.py [ITERS]   (one thread; prints per-seed losses and the difference in SE)
"""
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch

from refine_speed import run_loop
from sgaplus.images import load_image
from sgaplus.util import data_root, warm_start_dir
from sgaplus.zoo import load_model
torch.set_num_threads(1)
model = load_model(str(warm_start_dir() / "msh_N128_M192_lmbda0.0067.pt"))
x = load_image(data_root() / "kodak24" / "kodim13.png").x[..., 128:384, 256:512].contiguous()
iters = int(sys.argv[1]) if len(sys.argv) > 1 else 100
seeds = range(6)
res = {}
for v in ("reference", "sgaplus fp32"):
    res[v] = []
    for s in seeds:
        t = time.perf_counter()
        res[v].append(run_loop(v, model, x, "ssl", iters, seed=s))
        print(f"{v} seed {s}: {res[v][-1]:.5f} ({time.perf_counter() - t:.1f} s)", flush=True)
for v, l in res.items():
    print(f"{v}: mean {statistics.mean(l):.5f} sd {statistics.stdev(l):.5f} min {min(l):.5f} max {max(l):.5f}")
a, b = res["reference"], res["sgaplus fp32"]
d = statistics.mean(b) - statistics.mean(a)
se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
print(f"sgaplus - reference: {d:+.5f} ({100 * d / statistics.mean(a):+.2f} %), SE {se:.5f}, ratio {d / se:+.2f} SE")
