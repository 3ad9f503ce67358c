"""From a succeeded run to a served model: BentoML ``registry`` and ``packaging``, and the Airflow DAG's
decisions (``orchestration``) and task bodies (``dag_tasks``). Nothing heavy is imported at module level:
the Airflow image imports these without TensorFlow, pandas or BentoML."""
