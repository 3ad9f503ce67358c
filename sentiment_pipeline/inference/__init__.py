"""What a served model needs: text cleaning, the tokenizer, the predictor and the BentoML service's helpers.

This folder is what the bento includes (bentofile.yaml), with the two ``records`` modules the capture writes through
(``records.store``, ``records.captures``). It imports nothing else from ``records``, nothing from ``training`` or
``deploy``, and no pandas or Airflow (tests/test_layout.py checks in a fresh interpreter).
"""

# A run's model/ folder (docs/run-record.md): written by training, loaded by serving, copied by the registry.
# Here rather than in predictor.py, so reading them loads no numpy or ONNX Runtime.
MODEL_FILE = "model.keras"
ONNX_FILE = "model.onnx"  # the same model for ONNX Runtime, checked against model.keras (training/onnx_export.py)
TOKENIZER_FILE = "tokenizer.json"
LABELS_FILE = "labels.json"
SERVED_FILES = (ONNX_FILE, TOKENIZER_FILE, LABELS_FILE)  # what a registered model holds: no TensorFlow needed
