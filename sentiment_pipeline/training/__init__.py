"""Training: datasets and splits, the Keras model, the TF-IDF baseline, evaluation, plots, the parameterized
notebooks (``notebooks/``) and the runner that executes them with papermill into a run record."""
