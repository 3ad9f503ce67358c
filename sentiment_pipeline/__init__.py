"""Tweet sentiment pipeline, grouped by the image each part ships in (README "Layout").

- ``inference``: cleaning, tokenizer, predictor, serving helpers; the whole folder goes into the bento.
- ``training``: data, model, baseline, evaluation, plots, the notebooks and the runner; the training image.
- ``records``: the run store and the run-record contract (docs/run-record.md), and the runs index.
- ``deploy``: BentoML registry and packaging, and what the Airflow DAG decides and runs.
- ``params`` (every run parameter), ``errors`` (every exception raised on purpose) and ``cli`` sit on top.
"""
