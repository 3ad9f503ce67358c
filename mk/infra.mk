# Infrastructure targets (included by the Makefile). Tools: scripts/install-infra-tools.sh -> .tools/.
TF_DIR ?= terraform
TOOLS_BIN := .tools/bin
AIRFLOW_CONFIG_DIR ?= .airflow

.PHONY: infra-tools infra-check infra-test airflow-config

## Install the pinned infra linters (checkov, actionlint) into .tools/ (no-op when present).
infra-tools:
	bash scripts/install-infra-tools.sh

## fmt, validate, checkov, hadolint, actionlint: the static infra checks (no AWS account needed).
infra-check: venv infra-tools
	terraform -chdir=$(TF_DIR) fmt -check -recursive -diff
	terraform -chdir=$(TF_DIR) init -backend=false -input=false >/dev/null
	terraform -chdir=$(TF_DIR) validate
	$(BIN)/python scripts/terraform_readme_tables.py --check
	$(TOOLS_BIN)/checkov --skip-download --compact --quiet --framework terraform -d $(TF_DIR)
	$(TOOLS_BIN)/checkov --skip-download --compact --quiet --framework dockerfile -d containers
	$(TOOLS_BIN)/checkov --skip-download --compact --quiet --framework github_actions -d .github
	$(BIN)/hadolint containers/*/Dockerfile
	$(TOOLS_BIN)/actionlint

## The infrastructure tests alone (static checks, image commands, terraform apply/destroy against moto).
infra-test: venv infra-tools
	$(BIN)/pytest -q tests/infra

## Turn `terraform output` into Airflow configuration: the Variable `sentiment_pipeline` as
##   $(AIRFLOW_CONFIG_DIR)/sentiment_pipeline.json   the JSON value itself
##   $(AIRFLOW_CONFIG_DIR)/variables.json            for `airflow variables import`
##   $(AIRFLOW_CONFIG_DIR)/airflow.env               AIRFLOW_VAR_SENTIMENT_PIPELINE=... (env-file form)
airflow-config:
	@mkdir -p $(AIRFLOW_CONFIG_DIR)
	terraform -chdir=$(TF_DIR) output -json airflow_variables > $(AIRFLOW_CONFIG_DIR)/.terraform-output.json
	@python3 -c 'import json, pathlib, shlex, sys; \
	out = pathlib.Path(sys.argv[1]); value = json.loads((out / ".terraform-output.json").read_text()); \
	assert isinstance(value, dict) and value.get("cluster"), "terraform output airflow_variables is empty"; \
	(out / "sentiment_pipeline.json").write_text(json.dumps(value, indent=2, sort_keys=True) + "\n"); \
	(out / "variables.json").write_text(json.dumps({"sentiment_pipeline": value}, indent=2, sort_keys=True) + "\n"); \
	(out / "airflow.env").write_text("AIRFLOW_VAR_SENTIMENT_PIPELINE=" + json.dumps(value, separators=(",", ":"), sort_keys=True) + "\n"); \
	(out / ".terraform-output.json").unlink()' $(AIRFLOW_CONFIG_DIR)
	@echo "wrote $(AIRFLOW_CONFIG_DIR)/sentiment_pipeline.json, variables.json (airflow variables import $(AIRFLOW_CONFIG_DIR)/variables.json), airflow.env"
