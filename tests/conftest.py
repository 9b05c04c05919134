"""Shared test set-up: fake AWS credentials so nothing can reach a real account."""

import os

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_METRICS_NAMESPACE="HermesTest",
)
for leaked in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(leaked, None)

# Timings that slow tests record (e.g. terraform apply/plan/destroy) are shown at the end of the run,
# also under xdist where the workers' own output is not.
from pathlib import Path  # noqa: E402

TIMINGS = Path(__file__).resolve().parents[1] / ".hermes" / "test-timings.txt"


def record_timing(line: str) -> None:
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    with TIMINGS.open("a") as out:
        out.write(line.rstrip() + "\n")


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller (or a plain run), not an xdist worker
        TIMINGS.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter):
    if TIMINGS.exists():
        terminalreporter.section("timings")
        terminalreporter.write(TIMINGS.read_text())
