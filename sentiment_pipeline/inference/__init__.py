"""What a served model needs: text cleaning, the tokenizer, the predictor and the BentoML service's helpers.

This folder is exactly what the bento includes (bentofile.yaml). It imports nothing from ``training``,
``records`` or ``deploy``, and no pandas or Airflow (tests/test_layout.py checks in a fresh interpreter).
"""
