#!/usr/bin/env bash
# The README's screenshots (docs/screenshots/*.png), taken by the browser test (tests/e2e/test_browser.py: Playwright
# driving Debian's Chromium at /usr/bin/chromium) on the 5,000-image default dataset the demo checkpoints were
# trained on, with the checkpoints in checkpoints/ (the Classify page shows the recorded default answer).
# train_demo_checkpoints.sh and train_real_tuned_checkpoint.sh run it after they change the weights.
# Usage: scripts/screenshots.sh   (creates the default dataset first if it is missing: about 80 s)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"  # the interpreter to run (a virtual environment need not be activated)
data="$("$PYTHON" -c 'from galaxy_core.data.default import ensure_default_dataset as d; print(d())')"
GALAXY_SCREENSHOTS=docs/screenshots GALAXY10_H5="$data" "$PYTHON" -m pytest -q -p no:cacheprovider tests/e2e/test_browser.py
