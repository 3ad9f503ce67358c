"""What tests import: paths, the CLI runner, the serving checks, container, Airflow and Terraform harnesses.

The convention: pytest fixtures live in ``conftest.py`` files (pytest finds them; nothing imports a conftest);
every constant, helper function and harness a test imports lives in a module here, as ``from support.x import y``.
"""
