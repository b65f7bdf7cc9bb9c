#!/usr/bin/env bash
# gpu-env.sh — source this on the GPU machine (nothing can be installed there) before `make`:
#   . scripts/gpu-env.sh
# When cJSON / utf8proc / Check / libcurl headers are missing, unpacks the .debs carried in
# .dev/debs (fetched here with `apt-get download libutf8proc-dev libutf8proc2 libcjson-dev libcjson1
# check libsubunit-dev libsubunit0 libcurl4-openssl-dev libcurl4 python3-jsonschema python3-attr
# python3-pyrsistent`; pass `carry: [".dev/debs"]` to the run tool; the Python packages are the
# tests' JSON Schema validator) into a private prefix and points CFLAGS / LDFLAGS /
# LD_LIBRARY_PATH (and PYTHONPATH, when python3 cannot import jsonschema) at it. Also sets SETUP=0
# (no apt on that machine).
GPTC_PREFIX=${GPTC_PREFIX:-/tmp/gptc-prefix}
export SETUP=0
export GPTC_CONFIG_FALLBACK=1
if [ ! -e /usr/include/cjson/cJSON.h ] || [ ! -e /usr/include/utf8proc.h ] ||
    [ ! -e /usr/include/check.h ] || [ ! -e /usr/include/x86_64-linux-gnu/curl/curl.h ]; then
    debdir=${GPTC_DEBS:-.dev/debs}
    if ls "$debdir"/*.deb >/dev/null 2>&1; then
        mkdir -p "$GPTC_PREFIX"
        for f in "$debdir"/*.deb; do dpkg -x "$f" "$GPTC_PREFIX"; done
        inc=$GPTC_PREFIX/usr/include
        lib=$GPTC_PREFIX/usr/lib/x86_64-linux-gnu
        export CFLAGS="${CFLAGS:-} -I$inc -I$inc/cjson -I$inc/x86_64-linux-gnu"
        export LDFLAGS="${LDFLAGS:-} -L$lib"
        export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        # the prefix's .pc files say prefix=/usr: hide them so the Makefile's fallbacks apply
        export PKG_CONFIG_LIBDIR=/nonexistent
        # the tests' validator (python3-jsonschema), when the machine's Python lacks it
        py=$GPTC_PREFIX/usr/lib/python3/dist-packages
        if [ -d "$py" ] && ! python3 -c "import jsonschema" 2>/dev/null; then
            export PYTHONPATH="$py${PYTHONPATH:+:$PYTHONPATH}"
        fi
        echo "gpu-env: unpacked $(ls "$debdir"/*.deb | wc -l) debs into $GPTC_PREFIX" >&2
    else
        echo "gpu-env: headers missing and no .debs in $debdir (carry .dev/debs)" >&2
    fi
fi
export PATH=/usr/local/cuda/bin:$PATH
