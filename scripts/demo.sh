#!/usr/bin/env bash
# The demo: the example notebook end to end, as a user runs it.
# freeze -> build -> run with a parameter -> serve the trained model -> send it a request.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
NB=examples/classifier/classifier.ipynb
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "freeze: the example kernel's environment, locked beside the notebook"
jupyter containerize freeze "$NB"

step "build: the image (reused when nothing changed)"
IMAGE=$(jupyter containerize build "$NB" | tail -n 1)
echo "image: $IMAGE"

step "run: papermill inside the image, with a parameter"
OUT=$(mktemp -d)
jupyter containerize -q run "$NB" --image "$IMAGE" -p n_estimators 100 --output "$OUT/classifier.out.ipynb" \
  --artifacts "$OUT/artifacts" --report html
ls -l "$OUT" "$OUT/artifacts"

if jupyter containerize serve --help >/dev/null 2>&1; then
  step "serve: the trained model as a SageMaker / Open Inference Protocol V2 container"
  URL=$(jupyter containerize serve "$OUT/artifacts/model.joblib" --notebook "$NB" --name demo-classifier | tail -n 1)
  echo "deployment: $URL"
  ROW=$(.venv-example/bin/python -c "from sklearn.datasets import load_breast_cancer as l; import json; print(json.dumps({'inputs': l().data[:2].tolist()}))")
  step "request: POST $URL/invocations"
  curl -s -H 'Content-Type: application/json' -d "$ROW" "$URL/invocations"; echo
  jupyter containerize stop demo-classifier
fi
step "done"
