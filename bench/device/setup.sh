# Sourced by the device scripts (repo root, on the device machine): installs the carried
# wheels once per machine into .site (kept between calls while the machine stays warm;
# the image's own numpy 2 and torch are used: compressai 1.2.8 pins numpy<2 but our suite
# passes with numpy 2.3) and points Python at the repo's sources and the carried data.
if [ ! -f .site/.done ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target .site .whl/*.whl && touch .site/.done || { echo "wheel install failed"; exit 1; }
fi
# Staged files (prepare.sh) go to /tmp, which later calls do not touch.
if [ -d .stage ]; then mkdir -p /tmp/sgaplus-stage && cp -n .stage/* /tmp/sgaplus-stage/; fi
export PYTHONPATH=$PWD/.site:$PWD/src PYTHONUNBUFFERED=1 SGAPLUS_DATA=$PWD/.gdata
python3 -c "import torch, compressai, numpy, sgaplus; print('torch', torch.__version__, 'compressai', compressai.__version__, 'numpy', numpy.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')" || exit 1
