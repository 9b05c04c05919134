"""Each end-to-end module gets its own LocalStack (moto + `terraform apply` of examples/minimal + gateway +
pollers); every Lambda runs from dist/ as deployed, so a wiring mistake in Terraform fails here."""

from __future__ import annotations

import pytest

from hermes_local.stack import LocalStack
from hermes_notifications.sdk import Hermes, HermesConfig


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    # a workspace (so names) per module: two modules' stacks may run one after the other in one process, whose
    # in-process moto keeps the first one's resources
    workspace = "e" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "")[:10]
    with LocalStack(
        state_dir=tmp_path_factory.mktemp("local"),
        workspace=workspace,
        module_inputs=getattr(request.module, "STACK_INPUTS", None),  # a module's own module inputs
        log=lambda line: print(line, flush=True),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def hermes(stack):
    return Hermes(HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json"))


@pytest.fixture(scope="module")
def sqs(stack):
    return stack.aws.client("sqs")
