"""samconfig.toml's dev and prod environments against template.yaml's parameters."""

import re
import tomllib
from typing import Any

import pytest

from devstack.preflight import secrets_read
from devstack.template import ROOT, load_template

SAMCONFIG_TEXT = (ROOT / "samconfig.toml").read_text()
SAMCONFIG = tomllib.loads(SAMCONFIG_TEXT)
PARAMETERS: dict[str, dict[str, Any]] = load_template()["Parameters"]


def overrides(env: str) -> dict[str, str]:
    pairs = SAMCONFIG[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_dev_and_prod_are_separate_stacks() -> None:
    stacks = {env: SAMCONFIG[env]["global"]["parameters"]["stack_name"] for env in ("dev", "prod")}
    assert stacks["dev"] != stacks["prod"]
    assert {env: overrides(env)["StageName"] for env in ("dev", "prod")} == {"dev": "dev", "prod": "prod"}
    assert (
        SAMCONFIG["dev"]["deploy"]["parameters"]["s3_prefix"]
        != SAMCONFIG["prod"]["deploy"]["parameters"]["s3_prefix"]
    )


def test_prod_confirms_every_change_set_and_rolls_back_on_failure() -> None:
    prod = SAMCONFIG["prod"]["deploy"]["parameters"]
    assert prod["confirm_changeset"] is True
    assert prod.get("disable_rollback", False) is False


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_override_is_a_valid_value_of_a_template_parameter(env: str) -> None:
    for name, value in overrides(env).items():
        assert name in PARAMETERS, f"{env}: {name} is not a parameter of template.yaml"
        spec = PARAMETERS[name]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], (env, name, value)
        if spec["Type"] == "Number":
            assert int(value) >= spec.get("MinValue", int(value)), (env, name, value)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_parameter_without_a_default_is_asked_for_at_the_first_deploy(env: str) -> None:
    # `sam deploy --guided` asks for them; the file's header names them for the reader.
    header = SAMCONFIG_TEXT.split("version = ", 1)[0]
    missing = [n for n in PARAMETERS if "Default" not in PARAMETERS[n] and n not in overrides(env)]
    assert missing
    assert [n for n in missing if n not in header] == []


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_environment_can_create_the_stacks_iam_roles(env: str) -> None:
    assert "CAPABILITY_IAM" in SAMCONFIG[env]["deploy"]["parameters"]["capabilities"]


def test_each_environment_names_its_own_secret_for_every_secret_a_function_reads() -> None:
    # The template's default names would be shared by dev and prod in one account.
    read = set(secrets_read(load_template()))
    names = {env: {p: overrides(env).get(p) for p in read} for env in ("dev", "prod")}
    assert read == {
        "StripeCheckoutKeySecretName",
        "StripeConnectKeySecretName",
        "StripePayoutKeySecretName",
        "StripeLedgerCheckKeySecretName",
        "StripeBooksKeySecretName",
        "StripeWebhookSecretName",
    }
    for env, named in names.items():
        assert None not in named.values(), env
        assert all(name.startswith(f"coins-{env}/") for name in named.values() if name), env
    assert not set(names["dev"].values()) & set(names["prod"].values())


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_deploy_guide_creates_every_secret_an_environment_names(env: str) -> None:
    guide = (ROOT / "docs/deploy.md").read_text()
    created = {
        name.replace("$ENV", env)
        for name in re.findall(r"aws secretsmanager create-secret --name (\S+)", guide)
    }
    assert {overrides(env)[p] for p in secrets_read(load_template())} == created
