#!/usr/bin/env bash
# Idempotent project setup: Debian build dependencies, the venv, and a CPU-only Caffe
# built from the Caffe tree inside the PyPI sdist brocolli-caffe==9.0.2.
#
# Every step leaves a stamp only when it succeeded, so a second run on an up-to-date tree
# only checks the stamps (a few seconds). A user with their own pycaffe (CAFFE_ROOT set,
# or `import caffe` working in $PYTHON) skips the Caffe build and the venv points at theirs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
PYTHON="${PYTHON:-python3}"
VENV="$BUILD/venv"
CAFFE_DIR="$BUILD/caffe"
SDIST="brocolli-caffe-9.0.2.tar.gz"
SDIST_SHA256="c6410cc60bdd6db685d441b66be7df05410f8850ac88d6b75d48ef9b2315c08a"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

APT_PACKAGES=(build-essential pkg-config
  libboost-system-dev libboost-thread-dev libboost-filesystem-dev libboost-regex-dev
  libboost-python-dev libgoogle-glog-dev libgflags-dev libprotobuf-dev protobuf-compiler
  libhdf5-dev liblmdb-dev libleveldb-dev libsnappy-dev libopenblas-dev)

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

mkdir -p "$BUILD"

# --- 1. Which Caffe? ---------------------------------------------------------------
CAFFE_PY=""
if [[ -n "${CAFFE_ROOT:-}" ]]; then
  [[ -d "$CAFFE_ROOT/python/caffe" ]] \
    || die "CAFFE_ROOT=$CAFFE_ROOT has no python/caffe folder; build pycaffe there (make pycaffe) or unset CAFFE_ROOT"
  CAFFE_PY="$CAFFE_ROOT/python"
  say "using the Caffe at CAFFE_ROOT=$CAFFE_ROOT"
elif command -v "$PYTHON" >/dev/null && found="$("$PYTHON" -c \
      'import os, caffe; print(os.path.dirname(os.path.dirname(os.path.abspath(caffe.__file__))))' \
      2>/dev/null)" && [[ -n "$found" && "$found" != "$CAFFE_DIR/python" ]]; then
  CAFFE_PY="$found"
  say "using the pycaffe that $PYTHON already imports ($CAFFE_PY)"
fi
BUILD_CAFFE=0
[[ -z "$CAFFE_PY" ]] && { BUILD_CAFFE=1; CAFFE_PY="$CAFFE_DIR/python"; }

# A build made with another Makefile.config (an older setup, e.g. without LevelDB) is
# rebuilt in place: its .complete stamp holds the config it was built with.
CONFIG_VERSION="leveldb-1"
STALE=0
if [[ $BUILD_CAFFE == 1 && -f "$CAFFE_DIR/.complete" && "$(cat "$CAFFE_DIR/.complete")" != "$CONFIG_VERSION" ]]; then
  STALE=1
fi

# --- 2. Debian packages --------------------------------------------------------------
if [[ $BUILD_CAFFE == 1 && ( ! -f "$CAFFE_DIR/.complete" || $STALE == 1 ) ]]; then
  missing=()
  if command -v dpkg-query >/dev/null; then
    for p in "${APT_PACKAGES[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
  else
    missing=("${APT_PACKAGES[@]}")
  fi
  if (( ${#missing[@]} )); then
    if ! command -v apt-get >/dev/null; then
      die "no apt-get here (not Debian/Ubuntu?): install the equivalents of these packages by hand, then rerun: ${missing[*]}"
    fi
    SUDO=""
    if [[ $(id -u) != 0 ]]; then
      command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
      SUDO="sudo"
    fi
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq || die "apt-get update failed; install by hand: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" \
      > "$BUILD/apt.log" 2>&1 || { tail -n 20 "$BUILD/apt.log" >&2; die "apt-get install failed (log: build/apt.log); install by hand: ${missing[*]}"; }
  fi
fi

# --- 3. The venv ---------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" || ! -f "$VENV/.complete" || "$ROOT/requirements.txt" -nt "$VENV/.complete" ]]; then
  command -v "$PYTHON" >/dev/null || die "no Python interpreter '$PYTHON' (set PYTHON=...)"
  say "creating the venv in build/venv"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON (apt-get install python3-venv?)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" \
    > "$BUILD/pip.log" 2>&1 || { grep -v '^WARNING: Location' "$BUILD/pip.log" | tail -n 20 >&2; die "pip install -r requirements.txt failed (log: build/pip.log)"; }
  touch "$VENV/.complete"
fi
VPY="$VENV/bin/python"

# --- 4. Caffe ------------------------------------------------------------------------
write_makefile_config() {  # $1 = path
  local inc numinc libdir ver
  inc="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  numinc="$("$VPY" -c 'import numpy; print(numpy.get_include())')"
  libdir="$("$VPY" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"
  ver="$("$VPY" -c 'import sys; print("%d%d" % sys.version_info[:2])')"
  local dotted="${ver:0:1}.${ver:1}"
  local multiarch; multiarch="$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"
  cat > "$1" <<EOF
# Written by scripts/setup.sh for this machine; do not edit by hand.
CPU_ONLY := 1
USE_OPENCV := 0
USE_LEVELDB := 1
USE_LMDB := 1
BLAS := open
PYTHON_INCLUDE := $inc $numinc
PYTHON_LIBRARIES := boost_python$ver python$dotted
PYTHON_LIB := $libdir
WITH_PYTHON_LAYER := 1
INCLUDE_DIRS := \$(PYTHON_INCLUDE) /usr/local/include /usr/include/hdf5/serial
LIBRARY_DIRS := \$(PYTHON_LIB) /usr/local/lib /usr/lib /usr/lib/$multiarch/hdf5/serial
# libpython may live outside the loader's path (pyenv, conda): record it in the binaries.
LDFLAGS := -Wl,-rpath,$libdir
DISTRIBUTE_DIR := distribute
Q ?= @
EOF
}

if [[ $STALE == 1 ]]; then
  say "rebuilding build/caffe with this setup's Makefile.config (LevelDB added; a minute or two)"
  BUILD_START=$SECONDS
  write_makefile_config "$CAFFE_DIR/Makefile.config"
  # Objects do not depend on Makefile.config: touch the sources its switches reach.
  (cd "$CAFFE_DIR" && grep -rl "USE_LEVELDB" src include tools | xargs touch)
  if ! make -C "$CAFFE_DIR" -j"$JOBS" all pycaffe > "$BUILD/caffe-build.log" 2>&1; then
    grep -E 'error|Error' "$BUILD/caffe-build.log" | head -n 15 >&2 || true
    die "rebuilding Caffe failed (full log: build/caffe-build.log); rm -rf build/caffe and rerun make setup"
  fi
  echo "$CONFIG_VERSION" > "$CAFFE_DIR/.complete"
  say "Caffe rebuilt in $((SECONDS - BUILD_START)) s"
fi

if [[ $BUILD_CAFFE == 1 && ! -f "$CAFFE_DIR/.complete" ]]; then
  DL="$BUILD/downloads"; mkdir -p "$DL"
  if [[ ! -f "$DL/$SDIST" ]] || ! echo "$SDIST_SHA256  $DL/$SDIST" | sha256sum -c --status; then
    rm -f "$DL/$SDIST"
    say "downloading $SDIST from PyPI"
    "$VPY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$DL" brocolli-caffe==9.0.2 > "$BUILD/download.log" 2>&1 \
      || die "download of brocolli-caffe==9.0.2 failed (log: build/download.log); check the network to PyPI and rerun"
  fi
  echo "$SDIST_SHA256  $DL/$SDIST" | sha256sum -c --status \
    || { rm -f "$DL/$SDIST"; die "checksum mismatch for $SDIST (expected $SDIST_SHA256); the file was removed, rerun to fetch it again"; }

  # Build in build/caffe.partial (never trusted: it has no .complete stamp) and move it
  # to build/caffe only once it built and imports; a failed build resumes incrementally.
  TMP="$BUILD/caffe.partial"
  say "building Caffe in build/caffe.partial (CPU only, make -j$JOBS; minutes)"
  BUILD_START=$SECONDS
  if [[ ! -f "$TMP/brocolli-caffe-9.0.2/Makefile" ]]; then
    rm -rf "$TMP"; mkdir -p "$TMP"
    tar xzf "$DL/$SDIST" -C "$TMP" --exclude='*/.git/*' --exclude='*/.git' || { rm -rf "$TMP"; die "cannot unpack $DL/$SDIST"; }
  fi
  SRC="$TMP/brocolli-caffe-9.0.2"
  # The sdist ships a caffe_pb2.py generated by an old protoc that today's protobuf
  # runtime rejects; remove it so make regenerates it with this machine's protoc.
  [[ -f "$SRC/.pb2_regenerated" ]] || { rm -f "$SRC/python/caffe/proto/caffe_pb2.py"; touch "$SRC/.pb2_regenerated"; }
  write_makefile_config "$SRC/Makefile.config"
  if ! make -C "$SRC" -j"$JOBS" all pycaffe > "$BUILD/caffe-build.log" 2>&1; then
    grep -E 'error|Error' "$BUILD/caffe-build.log" | head -n 15 >&2 || true
    die "the Caffe build failed (full log: build/caffe-build.log); nothing was installed, fix and rerun make setup"
  fi
  # This tree's Makefile builds into temp/ (.temp_release) while pycaffe's rpath names
  # ../../build/lib: a link makes both hold, without touching the sources.
  [[ -e "$SRC/build" ]] || ln -s .temp_release "$SRC/build"
  # Smoke-check the result before trusting it.
  PYTHONPATH="$SRC/python" "$VPY" -c 'import caffe' > "$BUILD/caffe-import.log" 2>&1 \
    || { tail -n 5 "$BUILD/caffe-import.log" >&2; die "Caffe built but 'import caffe' fails (build/caffe-import.log)"; }
  echo "$CONFIG_VERSION" > "$SRC/.complete"
  rm -rf "$CAFFE_DIR"
  mv "$SRC" "$CAFFE_DIR"
  rm -rf "$TMP"
  say "Caffe is in build/caffe (tool: build/caffe/build/tools/caffe), built in $((SECONDS - BUILD_START)) s"
fi

# --- 5. pycaffe and inq_layer in the venv, without environment variables -----------------
# pycaffe is a folder of the Caffe build, not a distribution: one .pth line points at it, as
# a user's PYTHONPATH would. inq_layer is installed the Python way, editable (this checkout);
# its setup.py compiles the C kernels next to it, optional: without them inq_layer uses
# numpy (the same bits, slower: writeback.c writes frozen weights back in about 2% of a LeNet
# iteration, quantize_kernel.c quantizes a blob in 4 to 8 passes instead of 24 to 37). It is
# installed again when a kernel's source is newer than its library.
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
PTH="$SITE/pycaffe.pth"
rm -f "$SITE/inq_project.pth"
if [[ ! -f "$PTH" || "$(cat "$PTH")" != "$CAFFE_PY" ]]; then
  printf '%s\n' "$CAFFE_PY" > "$PTH.tmp" && mv "$PTH.tmp" "$PTH"
fi
install=0
"$VPY" -I -c 'import inq_layer.core.native, os, sys; sys.exit(not os.path.samefile(inq_layer.core.native.HERE, sys.argv[1]))' \
  "$ROOT/python/inq_layer/core" 2>/dev/null || install=1
for src in "$ROOT"/python/inq_layer/core/*.c; do
  lib=("${src%/*}/_$(basename "$src" .c)".cpython-*.so)
  [[ -f "${lib[0]}" && ! "$src" -nt "${lib[0]}" ]] || install=1
done
# The entry points (inq-check, ...) are written at install time: again when the project's
# metadata changed since.
STAMP="$VENV/.inq_layer_installed"
[[ -f "$STAMP" && ! "$ROOT/pyproject.toml" -nt "$STAMP" && ! "$ROOT/setup.py" -nt "$STAMP" ]] || install=1
if [[ $install == 1 ]]; then
  # No build isolation: the venv's own setuptools builds it, with no download.
  "$VPY" -m pip install --no-deps --no-build-isolation -e "$ROOT" > "$BUILD/pip-install-e.log" 2>&1 \
    || { tail -n 5 "$BUILD/pip-install-e.log" >&2; die "pip install -e . failed (build/pip-install-e.log)"; }
  "$VPY" -I -c 'from inq_layer.core import codes, passes, requantize, shift_conv; import sys; sys.exit("numpy" in (passes.KERNEL, codes.KERNEL, shift_conv.KERNEL, requantize.KERNEL))' \
    || say "warning: the C kernels did not compile (build/pip-install-e.log): inq_layer runs them with numpy"
  touch "$STAMP"
fi
"$VPY" -c 'import caffe, inq_layer' 2>"$BUILD/import.log" \
  || { tail -n 3 "$BUILD/import.log" >&2; die "'import caffe' fails in build/venv (see build/import.log)"; }
say "ready: build/venv/bin/python imports caffe from $CAFFE_PY"
