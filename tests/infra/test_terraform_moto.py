"""`terraform apply`, a re-plan with no changes, and `terraform destroy` of the whole stack against a moto
server on loopback, plus checks of what got created and of `make airflow-config` on the real outputs.

The provider endpoints point at moto from a test-only override file written into a temporary copy of
terraform/ (never into terraform/ itself); the local provider mirror comes from a test-only CLI config.
What moto lacks is switched off by variables whose defaults are the real-AWS settings (see MOTO_VARS).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.project import ROOT
from support.terraform import REGION, TERRAFORM_DIR, MotoStack, run

# What a re-plan right after apply may still want because moto does not keep or return it; anything else
# fails the test. (resource type -> attributes)
MOTO_PLAN_DRIFT = {
    "aws_db_parameter_group": {"parameter"},  # DescribeDBParameters has no `Source`, user values look unset
    "aws_vpc_security_group_ingress_rule": {"description"},  # dropped on rules referencing another group
    "aws_vpc_security_group_egress_rule": {"description"},
    "aws_ecs_service": {  # not stored by moto's ECS
        "availability_zone_rebalancing",
        "enable_ecs_managed_tags",
        "enable_execute_command",
        "health_check_grace_period_seconds",
    },
    # re-read at apply only because its data source depends on a service above; its value is unchanged
    "aws_iam_role_policy": {"policy"},
}
CONTRACT_KEYS = {
    "region", "cluster", "training_task_definition", "training_container", "image_builder_task_definition",
    "image_builder_container", "subnets", "security_groups", "log_group", "training_log_stream_prefix",
    "image_builder_log_stream_prefix", "data_uri", "store_uri", "bento_repository_url", "inference_cluster",
    "inference_service", "inference_task_family", "inference_container", "endpoint_url", "eval_data_uri",
    "captures_uri", "monitoring_schedule", "inference_capture_environment",
}  # fmt: skip
CAPTURE_PREFIX = "captures/"  # var.capture_prefix's default
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
# Actions with no resource-level permissions: the only ones allowed on Resource "*".
STAR_ALLOWED = {
    "ecr:GetAuthorizationToken",
    "ecs:ListTasks",  # scoped by the ecs:cluster condition
    "ecs:RegisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def boto(service: str, endpoint: str):
    import boto3

    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def statements(document) -> list[dict]:
    document = json.loads(document) if isinstance(document, str) else document
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.slow
def test_apply_replan_destroy_against_moto(moto_stack):
    """The whole scenario below runs in the background from the start of the session (tests/infra/conftest.py)
    and this test, moved to the end of the session, reports its outcome: its assertion errors fail it here."""
    moto_stack.result()
    print(f"terraform timings (s): {moto_stack.timings}")


def apply_replan_destroy(stack: MotoStack, scratch: Path) -> None:
    """init and apply; checks of outputs, state and what exists in moto; a re-plan; plans of the switches; destroy."""
    work, env, moto_endpoint, tf = stack.work, stack.env, stack.endpoint, stack.tf
    tf("init")
    try:
        tf("apply", "-auto-approve")
        state = json.loads(tf("show", "-json").stdout)  # each terraform command loads the provider: seconds of CPU
        outputs = {k: v["value"] for k, v in state["values"]["outputs"].items()}
        check_outputs(outputs)
        check_state(state)
        check_created_resources(outputs, moto_endpoint)
        check_capture(outputs, moto_endpoint)
        check_airflow_task_definition(outputs, moto_endpoint)
        check_airflow_login(outputs, moto_endpoint, scratch)
        check_make_airflow_config(work, env, scratch, outputs)

        replan = tf("plan", "-out=replan.tfplan", "-detailed-exitcode", check=False)
        assert replan.returncode in (0, 2), replan.stderr[-3000:]  # 2: changes, checked attribute by attribute
        plan = json.loads(tf("show", "-json", "replan.tfplan").stdout)
        unexpected = unexpected_changes(plan)
        assert not unexpected, "re-plan after apply wants changes:\n" + "\n".join(unexpected)

        # The switches moto cannot apply, planned against the applied stack with the real provider. The re-plan has
        # just read every resource back, so these plans compare the configuration with the state without a refresh
        # (each refresh is a few hundred calls to moto), and so does the destroy. The switches touch different
        # resources, so each plan turns several on at once (not the closed endpoint with capture off: a new ALB leaves
        # the Variable's endpoint unknown until applied): each plan and each `show` loads the provider.
        https = f"-var=certificate_arn=arn:aws:acm:{REGION}:123456789012:certificate/test"
        cpu = _plan(tf, "cpu", "-var=autoscaling_enabled=true", "-var=autoscaling_metric=cpu", https,
                    "-var=capture_enabled=false")  # fmt: skip
        cpu_plan = json.loads(tf("show", "-json", cpu).stdout)
        check_switch_plan(cpu_plan, "ECSServiceAverageCPUUtilization")
        check_capture_off_plan(cpu_plan)
        closed = _plan(tf, "closed", "-var=autoscaling_enabled=true", "-var=autoscaling_metric=requests", https,
                       "-var=internal_endpoint=true")  # fmt: skip
        closed_plan = json.loads(tf("show", "-json", closed).stdout)
        check_switch_plan(closed_plan, "ALBRequestCountPerTarget")
        [alb] = [c for c in closed_plan["resource_changes"] if c["address"] == "aws_lb.main"]
        assert alb["change"]["after"]["internal"] is True  # the closed endpoint: the ALB in the private subnets
        invalid = tf("plan", "-refresh=false", "-var=autoscaling_metric=memory", check=False)
        assert invalid.returncode == 1 and "autoscaling_metric must be" in invalid.stderr
    finally:
        tf("destroy", "-auto-approve", "-refresh=false", timeout=400)
    state = tf("state", "list", check=False)
    assert state.stdout.strip() == "", f"resources left after destroy:\n{state.stdout}"


def _plan(tf, name: str, *variables: str) -> str:
    tf("plan", "-refresh=false", f"-out={name}.tfplan", *variables)
    return f"{name}.tfplan"


def unexpected_changes(plan: dict) -> list[str]:
    """Planned changes other than the known moto drift (MOTO_PLAN_DRIFT), one line per attribute."""
    found = []
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        if actions != ["update"]:
            found.append(f"{change['address']}: {actions}")
            continue
        before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
        unknown = change["change"].get("after_unknown") or {}
        attributes = {k for k in set(before) | set(after) if before.get(k) != after.get(k) or unknown.get(k) is True}
        allowed = MOTO_PLAN_DRIFT.get(change["type"], set())
        if change["type"] == "aws_iam_role_policy":  # only the deferred re-read, never a real policy change
            allowed = {k for k in allowed if unknown.get(k) is True}
        found += [
            f"{change['address']}.{k}: {before.get(k)!r:.200} -> {after.get(k)!r:.200}" for k in attributes - allowed
        ]
    return sorted(found)


def check_switch_plan(plan: dict, metric_type: str) -> None:
    """Autoscaling on (CPU or ALB requests) and HTTPS with a certificate, as planned on top of the moto stack."""
    changes = {c["address"]: c["change"] for c in plan["resource_changes"]}
    target = changes["aws_appautoscaling_target.inference[0]"]
    assert target["actions"] == ["create"] and target["after"]["scalable_dimension"] == "ecs:service:DesiredCount"
    assert (target["after"]["min_capacity"], target["after"]["max_capacity"]) == (2, 6)
    policy = changes["aws_appautoscaling_policy.inference[0]"]["after"]
    tracking = policy["target_tracking_scaling_policy_configuration"][0]
    assert tracking["predefined_metric_specification"][0]["predefined_metric_type"] == metric_type
    https = changes["aws_lb_listener.https[0]"]
    assert https["actions"] == ["create"] and https["after"]["protocol"] == "HTTPS"
    assert https["after"]["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    http = changes["aws_lb_listener.http"]["after"]["default_action"][0]
    assert http["type"] == "redirect" and http["redirect"][0]["protocol"] == "HTTPS"


def check_outputs(outputs: dict) -> None:
    variables = outputs["airflow_variables"]
    assert set(variables) == CONTRACT_KEYS, f"contract keys differ: {set(variables) ^ CONTRACT_KEYS}"
    assert variables["region"] == REGION
    assert variables["training_container"] == "training"
    assert variables["image_builder_container"] == "kaniko"
    assert variables["inference_container"] == "bento"
    assert (variables["training_log_stream_prefix"], variables["image_builder_log_stream_prefix"]) == (
        "training",
        "image-builder",
    )
    assert len(variables["subnets"]) == 2 and variables["subnets"] == outputs["private_subnet_ids"]
    assert variables["security_groups"] == [outputs["task_security_group_id"]]
    assert variables["data_uri"] == f"s3://{outputs['data_bucket']}/tweets/train.csv"
    assert variables["eval_data_uri"] == f"s3://{outputs['data_bucket']}/tweets/eval.csv"  # readable: data bucket
    assert variables["store_uri"] == f"s3://{outputs['artifacts_bucket']}/pipeline"
    assert variables["endpoint_url"].startswith("http://") and variables["endpoint_url"] == outputs["endpoint_url"]
    assert variables["captures_uri"] == f"s3://{outputs['artifacts_bucket']}/{CAPTURE_PREFIX.rstrip('/')}"
    assert variables["monitoring_schedule"] == "@daily"
    assert ":" not in variables["bento_repository_url"].rsplit("/", 1)[-1], "repository URL without a tag"
    assert variables["bento_repository_url"] == outputs["ecr_repository_urls"]["bento"]
    for key in ("cluster_name", "training_task_definition", "image_builder_task_definition", "inference_service_name"):
        assert outputs[key]
    assert outputs["airflow_ui_url"] == "http://localhost:8080" and outputs["airflow_admin_username"] == "admin"
    assert outputs["airflow_admin_secret_arn"].startswith(f"arn:aws:secretsmanager:{REGION}:123456789012:secret:")


def state_resources(module: dict) -> dict[str, dict]:
    """Address -> values of every resource in the state, the modules' included (module.<name>.<type>.<name>)."""
    found = {r["address"]: r["values"] for r in module.get("resources", [])}
    for child in module.get("child_modules", []):
        found.update(state_resources(child))
    return found


def check_state(state: dict) -> None:
    """What moto does not report back, read from the applied state (moto drops the grace period, so not that),
    and that the `moved` blocks (terraform/moved.tf) lead from the flat layout's addresses to resources that exist.
    """
    resources = state_resources(state["values"]["root_module"])
    for service in (
        resources["module.inference.aws_ecs_service.ignore_task_definition[0]"],
        resources["module.airflow.aws_ecs_service.this[0]"],
    ):
        assert service["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
        assert service["network_configuration"][0]["assign_public_ip"] is False
    # The inference service leaves revision and count to the DAG's deploy and autoscaling; Airflow's follows Terraform.
    assert "module.inference.aws_ecs_service.this[0]" not in resources
    assert "module.airflow.aws_ecs_service.ignore_task_definition[0]" not in resources
    listener = resources["aws_lb_listener.http"]
    assert listener["default_action"][0]["type"] == "forward"
    assert resources["aws_lb.main"]["drop_invalid_header_fields"] is True
    db = resources["aws_db_instance.airflow"]
    assert db["storage_encrypted"] and not db["publicly_accessible"] and db["manage_master_user_password"]

    moved = re.findall(r"moved\s*\{\s*from\s*=\s*(\S+)\s*to\s*=\s*(\S+)\s*\}", (TERRAFORM_DIR / "moved.tf").read_text())
    assert len(moved) >= 30, f"moved.tf: {len(moved)} moved blocks"
    for source, target in moved:
        assert target in resources or any(a.startswith(f"{target}[") for a in resources), f"moved to nothing: {target}"
        assert source not in resources and not any(a.startswith(f"{source}[") for a in resources), source


def check_created_resources(outputs: dict, endpoint: str) -> None:
    variables = outputs["airflow_variables"]
    s3 = boto("s3", endpoint)
    for bucket in (outputs["data_bucket"], outputs["artifacts_bucket"]):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()), block
        policy = statements(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert any(
            s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in policy
        ), "TLS-only bucket policy"
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=outputs["artifacts_bucket"])["Rules"]}
    assert rules["old-run-records"]["Filter"]["Prefix"] == "pipeline/runs/", "lifecycle for old run records"
    assert rules["old-run-records"]["Transitions"][0]["StorageClass"] == "STANDARD_IA"
    assert rules["old-run-records"]["Expiration"]["Days"] == 730
    assert rules["old-versions-and-uploads"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
    # Captures go after capture_retention_days (30), their expired version a day later, then the delete marker.
    captures = rules["expire-captures"]
    assert captures["Status"] == "Enabled" and captures["Filter"]["Prefix"] == CAPTURE_PREFIX
    assert captures["Expiration"] == {"Days": 30}
    assert captures["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    markers = rules["expire-capture-delete-markers"]
    assert markers["Filter"]["Prefix"] == CAPTURE_PREFIX
    assert markers["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert len(rules) == 4, sorted(rules)

    ecr = boto("ecr", endpoint)
    repos = ecr.describe_repositories()["repositories"]
    assert {r["repositoryUri"] for r in repos} >= set(outputs["ecr_repository_urls"].values())
    for repo in repos:
        assert repo["imageTagMutability"] == "IMMUTABLE" and repo["imageScanningConfiguration"]["scanOnPush"]
        assert ecr.get_lifecycle_policy(repositoryName=repo["repositoryName"])["lifecyclePolicyText"]

    ecs = boto("ecs", endpoint)
    cluster = ecs.describe_clusters(clusters=[variables["cluster"]], include=["SETTINGS"])["clusters"][0]
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]
    service = ecs.describe_services(cluster=variables["cluster"], services=[variables["inference_service"]])[
        "services"
    ][0]
    assert service["launchType"] == "FARGATE" and service["desiredCount"] == 2
    awsvpc = service["networkConfiguration"]["awsvpcConfiguration"]
    assert sorted(awsvpc["subnets"]) == sorted(variables["subnets"]) and awsvpc["assignPublicIp"] == "DISABLED"
    target_group = service["loadBalancers"][0]["targetGroupArn"]
    health = boto("elbv2", endpoint).describe_target_groups(TargetGroupArns=[target_group])["TargetGroups"][0]
    assert health["HealthCheckPath"] == "/readyz" and health["Port"] == 3000

    training = ecs.describe_task_definition(taskDefinition=variables["training_task_definition"])["taskDefinition"]
    [container] = training["containerDefinitions"]
    assert container["name"] == "training" and container["readonlyRootFilesystem"]
    assert container["logConfiguration"]["options"]["awslogs-group"] == variables["log_group"]
    assert container["logConfiguration"]["options"]["awslogs-stream-prefix"] == "training"
    builder = ecs.describe_task_definition(taskDefinition=variables["image_builder_task_definition"])["taskDefinition"]
    assert builder["containerDefinitions"][0]["name"] == "kaniko"
    assert builder["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-stream-prefix"] == "image-builder"

    logs = boto("logs", endpoint)
    groups = logs.describe_log_groups(logGroupNamePrefix="/sentiment/")["logGroups"]
    assert groups and all(g.get("retentionInDays") for g in groups), "every log group has a retention"
    assert all(g.get("kmsKeyId") for g in groups), "every log group is encrypted with the project key"
    named = {f"/sentiment/{k}" for k in ("pipeline", "inference", "airflow", "vpc-flow-logs")}
    assert set(outputs["log_group_names"].values()) == named <= {g["logGroupName"] for g in groups}

    check_iam(outputs, endpoint)


def check_iam(outputs: dict, endpoint: str) -> None:
    """No "*" resource where a narrower ARN exists; the task roles reach exactly their prefixes."""
    iam = boto("iam", endpoint)
    roles = [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("sentiment-")]
    documents = {}
    for role in roles:
        for name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            documents[role["RoleName"]] = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)[
                "PolicyDocument"
            ]
        assert not iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert {
        "sentiment-training-task",
        "sentiment-image-builder-task",
        "sentiment-inference-task",
        "sentiment-airflow-task",
    } <= set(documents)
    for role, document in documents.items():
        for statement in statements(document):
            if "*" in as_list(statement["Resource"]):
                extra = set(as_list(statement["Action"])) - STAR_ALLOWED
                assert not extra, f"{role}: {sorted(extra)} on Resource '*'"
            assert not any(a.endswith(":*") or a == "*" for a in as_list(statement["Action"])), (role, statement)

    artifacts = f"arn:aws:s3:::{outputs['artifacts_bucket']}"
    training = statements(documents["sentiment-training-task"])
    writes = [s for s in training if "s3:PutObject" in as_list(s["Action"])]
    assert [as_list(s["Resource"]) for s in writes] == [[f"{artifacts}/pipeline/*"]]
    builder = statements(documents["sentiment-image-builder-task"])
    push = [s for s in builder if "ecr:PutImage" in as_list(s["Action"])]
    assert [as_list(s["Resource"]) for s in push] == [[f"arn:aws:ecr:{REGION}:123456789012:repository/sentiment/bento"]]
    airflow = statements(documents["sentiment-airflow-task"])
    passed = {r for s in airflow if "iam:PassRole" in as_list(s["Action"]) for r in as_list(s["Resource"])}
    assert {p.rsplit("/", 1)[-1] for p in passed} == {
        "sentiment-training-task",
        "sentiment-image-builder-task",
        "sentiment-inference-task",
        "sentiment-pipeline-execution",
        "sentiment-inference-execution",
    }
    run_task = [s for s in airflow if "ecs:RunTask" in as_list(s["Action"])]
    assert sorted(as_list(run_task[0]["Resource"])) == sorted(
        f"arn:aws:ecs:{REGION}:123456789012:task-definition/{family}:*"
        for family in ("sentiment-training", "sentiment-image-builder")
    )
    # Least privilege where a run could do harm: no delete on the run store (a run only adds or replaces files);
    # Airflow watches and stops only the pipeline's own tasks (tagged through their task definitions), never
    # another service's tasks in the cluster; the KMS key only through the service that holds the data.
    assert not [s for s in training if "s3:DeleteObject" in as_list(s["Action"])]
    [watch] = [s for s in airflow if "ecs:StopTask" in as_list(s["Action"])]
    assert watch["Condition"]["StringEquals"] == {"aws:ResourceTag/sentiment-pipeline-task": "pipeline"}
    ecs = boto("ecs", endpoint)
    for family in ("sentiment-training", "sentiment-image-builder"):
        tags = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])["tags"]
        assert {"key": "sentiment-pipeline-task", "value": "pipeline"} in tags, (family, tags)
    for role, document in documents.items():
        for statement in statements(document):
            if any(a.startswith("kms:") for a in as_list(statement["Action"])):
                via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
                services = (f"s3.{REGION}.amazonaws.com", f"secretsmanager.{REGION}.amazonaws.com")
                assert via in services, (role, statement)

    # Secrets: only the Airflow execution role reads any, each named by its ARN; the admin password's secret has
    # a statement of its own that names that secret alone.
    secrets = {s["ARN"] for s in boto("secretsmanager", endpoint).list_secrets()["SecretList"]}
    for role, document in documents.items():
        for statement in statements(document):
            actions = as_list(statement["Action"])
            if any(a.startswith("secretsmanager:") for a in actions):
                assert role == "sentiment-airflow-execution", (role, statement)
                assert actions == ["secretsmanager:GetSecretValue"], (role, statement)
                assert set(as_list(statement["Resource"])) <= secrets, (role, statement)  # existing ARNs, no wildcard
    execution = statements(documents["sentiment-airflow-execution"])
    reads = [s for s in execution if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    admin = outputs["airflow_admin_secret_arn"]
    assert [as_list(s["Resource"]) for s in reads if admin in as_list(s["Resource"])] == [[admin]]
    # three secrets in all: the database's (RDS-managed), the components' JWT key and the admin password
    assert len({r for s in reads for r in as_list(s["Resource"])}) == 3


def check_capture(outputs: dict, endpoint: str) -> None:
    """The inference service captures to the artifacts bucket's capture prefix, and its task role may make exactly
    the calls the capture's store makes there: PutObject under that prefix (plus the data key S3 asks KMS for)."""
    from sentiment_pipeline.inference.capture import capture_settings
    from sentiment_pipeline.records.captures import segment_key
    from sentiment_pipeline.records.store import S3Store

    captures_uri = outputs["airflow_variables"]["captures_uri"]
    ecs = boto("ecs", endpoint)
    task = ecs.describe_task_definition(taskDefinition=outputs["inference_task_definition_arn"])["taskDefinition"]
    assert task["family"] == "sentiment-inference"
    [bento] = task["containerDefinitions"]
    environment = {e["name"]: e["value"] for e in bento["environment"]}
    assert environment == {
        "AWS_REGION": REGION,
        "SENTIMENT_CAPTURE_URI": captures_uri,
        "SENTIMENT_CAPTURE_RATE": "1",
        "SENTIMENT_CAPTURE_TEXT": "full",
    }
    # The deploy step sets the same settings on the revision it copies (orchestration.CAPTURE_ENVIRONMENT_KEY).
    assert outputs["airflow_variables"]["inference_capture_environment"] == environment
    settings = capture_settings(environment)  # what the service reads at start-up (it refuses values it cannot use)
    assert (settings.uri, settings.rate, settings.text) == (captures_uri, 1.0, "full")
    assert task["taskRoleArn"].endswith(":role/sentiment-inference-task")

    iam = boto("iam", endpoint)
    [name] = iam.list_role_policies(RoleName="sentiment-inference-task")["PolicyNames"]
    policy = statements(iam.get_role_policy(RoleName="sentiment-inference-task", PolicyName=name)["PolicyDocument"])
    artifacts = f"arn:aws:s3:::{outputs['artifacts_bucket']}"
    assert all(s["Effect"] == "Allow" for s in policy)
    allowed = [(a, r) for s in policy for a in as_list(s["Action"]) for r in as_list(s["Resource"])]
    key = boto("kms", endpoint).describe_key(KeyId="alias/sentiment")["KeyMetadata"]["Arn"]
    # Nothing else: no GetObject, DeleteObject, ListBucket, multipart or other prefix, no other KMS action.
    assert sorted(allowed) == [("kms:GenerateDataKey", key), ("s3:PutObject", f"{artifacts}/{CAPTURE_PREFIX}*")]
    [encrypt] = [s for s in policy if "kms:GenerateDataKey" in as_list(s["Action"])]
    assert encrypt["Condition"]["StringEquals"] == {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    context = set(as_list(encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]))
    assert context == {artifacts, f"{artifacts}/{CAPTURE_PREFIX}*"}  # the bucket key's context, or an object's
    # No other role may write or delete there (a reader, such as the monitor's, may list and read).
    reaching = {f"{artifacts}/*", f"{artifacts}/{CAPTURE_PREFIX}*"}
    for role in iam.list_roles()["Roles"]:
        if not role["RoleName"].startswith("sentiment-") or role["RoleName"] == "sentiment-inference-task":
            continue
        for policy_name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy_name)["PolicyDocument"]
            for statement in statements(document):
                if set(as_list(statement["Action"])) & {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"}:
                    assert not reaching & set(as_list(statement["Resource"])), (role["RoleName"], statement)

    # The monitor (the training task definition, run by the monitoring DAG) lists and reads the captures, no more.
    [name] = iam.list_role_policies(RoleName="sentiment-training-task")["PolicyNames"]
    training = statements(iam.get_role_policy(RoleName="sentiment-training-task", PolicyName=name)["PolicyDocument"])
    on_captures = {
        a for s in training for a in as_list(s["Action"]) if f"{artifacts}/{CAPTURE_PREFIX}*" in as_list(s["Resource"])
    }
    assert on_captures == {"s3:GetObject"}
    [listing] = [s for s in training if s.get("Sid") == "ListCaptures"]
    assert set(as_list(listing["Condition"]["StringLike"]["s3:prefix"])) == {CAPTURE_PREFIX + "*", "captures"}

    # The calls the capture's store makes for a segment: one plain PutObject under the prefix the policy names (no
    # condition header, ACL or encryption parameter: if the store starts sending one, look at the policy again).
    calls = []

    class Recorder:
        def __getattr__(self, operation):
            return lambda **kwargs: calls.append((operation, kwargs)) or {"ETag": '"0"'}

    store = S3Store(captures_uri, client=Recorder())
    store.write_bytes(segment_key("20261204t194005z-004fd1-92822010", datetime.now(UTC), "w0.abcdef", 0), b"segment")
    [(operation, kwargs)] = calls
    assert operation == "put_object" and kwargs["Bucket"] == outputs["artifacts_bucket"], calls
    assert set(kwargs) == {"Bucket", "Key", "Body", "ContentType"}, kwargs
    assert fnmatch.fnmatchcase(f"{artifacts}/{kwargs['Key']}", f"{artifacts}/{CAPTURE_PREFIX}*"), kwargs["Key"]


def check_capture_off_plan(plan: dict) -> None:
    """capture_enabled = false, planned on the applied stack: the three variables and the write permission go."""
    changes = {c["address"]: c["change"] for c in plan["resource_changes"]}
    assert changes["aws_iam_role_policy.inference[0]"]["actions"] == ["delete"]
    task = changes["module.inference.aws_ecs_task_definition.this"]
    assert task["actions"] in (["delete", "create"], ["create", "delete"])  # a task definition is replaced
    [bento] = json.loads(task["after"]["container_definitions"])
    assert not any(e["name"].startswith("SENTIMENT_CAPTURE_") for e in bento.get("environment") or []), bento
    variables = plan["planned_values"]["outputs"]["airflow_variables"]["value"]
    assert variables["captures_uri"] == ""
    assert variables["inference_capture_environment"] == {}  # the next deploy drops the running revision's settings
    lifecycle = changes.get("aws_s3_bucket_lifecycle_configuration.artifacts", {"actions": ["no-op"]})
    assert lifecycle["actions"] == ["no-op"], "captures already written still expire"


def check_airflow_task_definition(outputs: dict, endpoint: str) -> None:
    """The Airflow task gets the Variable from Terraform, and its database URL command works as Airflow runs it."""
    ecs = boto("ecs", endpoint)
    task = ecs.describe_task_definition(taskDefinition="sentiment-airflow")["taskDefinition"]
    containers = {c["name"]: c for c in task["containerDefinitions"]}
    assert set(containers) == {"db-migrate", "api-server", "scheduler", "dag-processor", "triggerer"}
    assert not containers["db-migrate"]["essential"]
    for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert containers[name]["dependsOn"] == [{"containerName": "db-migrate", "condition": "SUCCESS"}]
        assert containers[name]["healthCheck"]["command"][0] == "CMD"
    environment = {e["name"]: e["value"] for e in containers["scheduler"]["environment"]}
    assert json.loads(environment["AIRFLOW_VAR_SENTIMENT_PIPELINE"]) == outputs["airflow_variables"]
    secrets = {s["name"] for s in containers["scheduler"]["secrets"]}
    assert {"DB_USER", "DB_PASSWORD", "AIRFLOW__API_AUTH__JWT_SECRET"} <= secrets
    assert environment["AIRFLOW__CORE__AUTH_MANAGER"] == SIMPLE_AUTH_MANAGER
    assert environment["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    # Only the api-server, which logs users in, gets the admin password.
    for name, container in containers.items():
        given = {s["name"]: s["valueFrom"] for s in container["secrets"]}
        if name == "api-server":
            assert given["AIRFLOW_ADMIN_PASSWORD"] == outputs["airflow_admin_secret_arn"]
        else:
            assert "AIRFLOW_ADMIN_PASSWORD" not in given, name

    # Airflow runs `sql_alchemy_conn_cmd` split like a shell would; a password with URL-special characters
    # must come out quoted, so SQLAlchemy reads it back exactly.
    from sqlalchemy.engine import make_url

    password = "p@ss:w/rd%?#&x"
    result = run(
        shlex.split(environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"]),
        env={"DB_USER": "airflow", "DB_PASSWORD": password, "DB_HOST": "db.example:5432", "DB_NAME": "airflow"},
    )
    url = make_url(result.stdout.strip())
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg2",
        "airflow",
        password,
        "db.example",
        5432,
        "airflow",
    )


def check_make_airflow_config(work: Path, env: dict, tmp_path: Path, outputs: dict) -> None:
    out = tmp_path / "airflow-config"
    make = ["make", "--no-print-directory", "airflow-config", f"TF_DIR={work}", f"AIRFLOW_CONFIG_DIR={out}"]
    run(make, cwd=ROOT, env=env)
    variables = outputs["airflow_variables"]
    assert json.loads((out / "sentiment_pipeline.json").read_text()) == variables
    assert json.loads((out / "variables.json").read_text()) == {"sentiment_pipeline": variables}
    line = (out / "airflow.env").read_text().strip()
    name, _, value = line.partition("=")
    assert name == "AIRFLOW_VAR_SENTIMENT_PIPELINE" and json.loads(value) == variables


def check_airflow_login(outputs: dict, endpoint: str, scratch: Path) -> None:
    """The admin password is generated into Secrets Manager under the project key, and the api-server's command
    turns it into a passwords file that Airflow's SimpleAuthManager (the pinned version) reads back."""
    sm = boto("secretsmanager", endpoint)
    secret = sm.describe_secret(SecretId=outputs["airflow_admin_secret_arn"])
    key = boto("kms", endpoint).describe_key(KeyId="alias/sentiment")["KeyMetadata"]
    assert secret["KmsKeyId"] in (key["Arn"], key["KeyId"]), secret
    password = sm.get_secret_value(SecretId=secret["ARN"])["SecretString"]
    assert len(password) == 32 and password.isalnum(), "generated without punctuation, 32 characters"

    task = boto("ecs", endpoint).describe_task_definition(taskDefinition="sentiment-airflow")["taskDefinition"]
    [api] = [c for c in task["containerDefinitions"] if c["name"] == "api-server"]
    environment = {e["name"]: e["value"] for e in api["environment"]}
    # The container's command with a stand-in `airflow` that shows what it was started with.
    stub = scratch / "airflow-stub"
    stub.mkdir()
    script = '#!/bin/sh\necho "airflow $*"\necho "password in env: ${AIRFLOW_ADMIN_PASSWORD:-none}"\n'
    (stub / "airflow").write_text(script)
    (stub / "airflow").chmod(0o755)
    passwords_file = scratch / "simple_auth_manager_passwords.json"
    env = {
        "PATH": os.pathsep.join([str(stub), str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": environment["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW_ADMIN_PASSWORD": password,
    }
    started = run(api["command"], env=env)
    assert started.stdout.splitlines() == ["airflow api-server --port 8080", "password in env: none"], started.stdout
    assert stat.S_IMODE(passwords_file.stat().st_mode) == 0o600
    read_back = run(
        [
            sys.executable,
            "-c",
            "import json; from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager"
            " as M; print(json.dumps([M.get_passwords(), [[u.username, u.role] for u in M.get_users()]]))",
        ],
        env={
            **env,
            "AIRFLOW__CORE__AUTH_MANAGER": environment["AIRFLOW__CORE__AUTH_MANAGER"],
            "AIRFLOW_HOME": str(scratch / "airflow-home"),
        },
    )
    assert json.loads(read_back.stdout.strip().splitlines()[-1]) == [{"admin": password}, [["admin", "admin"]]]
