#!/bin/sh
# The image's install steps, in one place: the Dockerfile runs them, and tests/test_dockerfile.py runs the
# Dockerfile's same RUN lines in a fresh venv. From the build context's root, with uv on PATH:
#   VIRTUAL_ENV=DIR docker/install.sh locked [cpu|cuda]   a new venv holding exactly the lock(s)
#   VIRTUAL_ENV=DIR docker/install.sh project             the project itself, its dependencies being the lock's
set -eu
usage="usage: VIRTUAL_ENV=DIR docker/install.sh locked [cpu|cuda] | project"
venv=${VIRTUAL_ENV:?$usage}

case ${1-} in
locked)
    case ${2-cpu} in
    cpu) set -- requirements.lock ;;
    # TensorFlow's `and-cuda` extra: CUDA and cuDNN as wheels; the node's NVIDIA driver does the rest.
    cuda) set -- requirements.lock docker/cuda.lock ;;
    *) echo "docker/install.sh: the variant is cpu or cuda, got '$2'" >&2; exit 2 ;;
    esac
    # No pip: `sync` leaves exactly the locked packages, and a venv's own pip is not locked.
    python3 -m venv --without-pip "$venv"
    uv pip sync --python "$venv/bin/python" --require-hashes "$@"
    ;;
project)
    # The locked setuptools builds it: an isolated build would fetch an unpinned one.
    uv pip install --python "$venv/bin/python" --no-deps --no-build-isolation .
    ;;
*)
    echo "$usage" >&2
    exit 2
    ;;
esac
