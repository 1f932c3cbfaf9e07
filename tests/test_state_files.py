"""State files carry their format; a damaged one or one from another version is one line naming the file and what
to do, never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from spec import state_format
from spec.outputs import Node, Outputs, SparkCluster
from targets import environments, state
from targets.backend import Record
from targets.errors import TargetError
from targets.local.backend import BACKEND
from targets.local.journal import Journal
from targets.spark_job_records import JobRecords, SparkJobRecord

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
REMEDY = "`invoke destroy --name lab` takes the environment down"


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Environment "lab" as a local `up` leaves it: its journal and its saved outputs."""
    monkeypatch.setenv("CHPC_STATE_DIR", str(tmp_path / "state"))
    Journal(name="lab", subnet="10.213.9.0/24", inits={"head": 4242}).save()
    Outputs(target="local", name="lab", ssh_user="root", ssh_private_key="~/.ssh/id_ed25519",
            head=Node(name="head", address="10.213.9.10", host_key=KEY)).save(state.outputs_path("lab"))
    return state.env_dir("lab")


def test_every_state_file_carries_this_versions_format(lab: Path) -> None:
    environments.remember(Record(name="hpc-dev", target="aws", stack="hpc-dev", region="us-east-1"))
    for path in (lab / "journal.json", lab / "outputs.json", state.env_dir("hpc-dev") / "deployment.json"):
        assert json.loads(path.read_text())["format"] == state_format.FORMAT == 1, path
    assert Journal.load("lab").inits == {"head": 4242}
    assert BACKEND.contract(Record(name="lab", target="local"), Console(quiet=True)).head.address == "10.213.9.10"
    assert environments.recorded("hpc-dev") == Record(name="hpc-dev", target="aws", stack="hpc-dev",
                                                      region="us-east-1")


DAMAGES = {
    "truncated": (lambda text: text[: len(text) // 2], "is damaged (not JSON: "),
    "not an object": (lambda text: "[1, 2]", "is damaged (not a JSON object)"),
    "newer format": (lambda text: json.dumps({**json.loads(text), "format": 2}),
                     "was written by another version of cloud-hpc-toolkit (in state format '2'; this one reads "
                     "format 1)"),
    "unknown field": (lambda text: json.dumps({**json.loads(text), "gpus": {"head": 8}}),
                      "has a field this version does not know ('gpus'): written by another version of "
                      "cloud-hpc-toolkit?"),
}


def damage(path: Path, how: str) -> str:
    change, said = DAMAGES[how]
    path.write_text(change(path.read_text()))
    return said


@pytest.mark.parametrize("how", DAMAGES)
def test_a_journal_this_version_cannot_read_is_one_line_naming_it(lab: Path, how: str) -> None:
    said = damage(lab / "journal.json", how)
    with pytest.raises(TargetError) as caught:
        Journal.load("lab")
    line = str(caught.value)
    assert line.startswith(f"{lab / 'journal.json'} ") and said in line and line.endswith(REMEDY)
    assert "\n" not in line
    with pytest.raises(TargetError, match="journal.json"):  # status reads the contract: the journal is named too
        BACKEND.contract(Record(name="lab", target="local"), Console(quiet=True))


@pytest.mark.parametrize("how", DAMAGES)
def test_saved_outputs_this_version_cannot_read_are_one_line_naming_them(lab: Path, how: str) -> None:
    said = damage(lab / "outputs.json", how)
    with pytest.raises(TargetError) as caught:
        BACKEND.contract(Record(name="lab", target="local"), Console(quiet=True))
    line = str(caught.value)
    assert str(lab / "outputs.json") in line and said in line and line.endswith(REMEDY) and "\n" not in line


def test_files_written_before_state_files_carried_a_format_are_read_as_format_1(lab: Path) -> None:
    """An environment made by the toolkit before an upgrade stays usable: its files are format 1's layout."""
    environments.remember(Record(name="hpc-dev", target="aws", stack="hpc-dev", region="us-east-1"))
    for path in (lab / "journal.json", lab / "outputs.json", state.env_dir("hpc-dev") / "deployment.json"):
        path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "format"}))
    assert Journal.load("lab").inits == {"head": 4242}
    assert BACKEND.contract(Record(name="lab", target="local"), Console(quiet=True)).head.address == "10.213.9.10"
    assert environments.recorded("hpc-dev") == Record(name="hpc-dev", target="aws", stack="hpc-dev",
                                                      region="us-east-1")


def test_the_journal_is_replaced_whole_never_rewritten_in_place(lab: Path) -> None:
    """A new file renamed over the old: an `up` killed mid-write leaves the old journal or the new, never half."""
    before = (lab / "journal.json").stat().st_ino
    journal = Journal.load("lab")
    journal.inits["compute-0"] = 4243
    journal.save()
    assert (lab / "journal.json").stat().st_ino != before
    assert sorted(p.name for p in lab.iterdir()) == ["journal.json", "outputs.json"]  # no temporary file left
    assert Journal.load("lab").inits == {"head": 4242, "compute-0": 4243}


def test_a_journal_field_of_the_wrong_kind_is_one_line(lab: Path) -> None:
    (lab / "journal.json").write_text(json.dumps({"format": 1, "name": "lab", "inits": {"head": "four"}}))
    with pytest.raises(TargetError) as caught:
        Journal.load("lab")
    assert str(caught.value) == (f"{lab / 'journal.json'} is damaged (inits.head: Input should be a valid integer, "
                                 f"unable to parse string as an integer); {REMEDY}")


@pytest.mark.parametrize("how", DAMAGES)
def test_a_deployment_record_this_version_cannot_read_is_one_line(lab: Path, how: str) -> None:
    environments.remember(Record(name="hpc-dev", target="aws", stack="hpc-dev", region="us-east-1"))
    path = state.env_dir("hpc-dev") / "deployment.json"
    said = damage(path, how)
    with pytest.raises(TargetError) as caught:
        environments.recorded("hpc-dev")
    line = str(caught.value)
    assert line.startswith(f"{path} ") and said in line and "\n" not in line
    assert line.endswith("remove it, then `invoke destroy --stack STACK` finds the stack again (or use the version "
                         "that wrote it)")


@pytest.mark.parametrize("how", DAMAGES)
def test_a_spark_job_record_this_version_cannot_read_is_one_line(lab: Path, how: str) -> None:
    records = JobRecords.of("lab")
    spark = SparkCluster(provider="aws", master="j-1ABC", region="us-east-1")
    records.save(SparkJobRecord(provider="aws", cluster="j-1ABC", cluster_job_id="s-2AB3", prefix="jobs/x/",
                                output_uri="s3://b/jobs/x/output/", output_dir=None, script="wc.py",
                                submitted=datetime(2026, 11, 27, tzinfo=UTC)))
    path = lab / "spark-jobs" / "s-2AB3.json"
    assert json.loads(path.read_text())["format"] == 1 and records.load("s-2AB3", spark).script == "wc.py"
    said = damage(path, how)
    with pytest.raises(TargetError) as caught:
        records.load("s-2AB3", spark)
    line = str(caught.value)
    assert line.startswith(f"{path} ") and said in line and "\n" not in line
    assert line.endswith("remove it and follow the job on the cluster: this version cannot attach to it")


def test_a_damaged_record_of_one_environment_does_not_stop_finding_another_by_stack(lab: Path) -> None:
    for name in ("ancient-dev", "hpc-dev"):  # the damaged one is looked at first
        environments.remember(Record(name=name, target="aws", stack=name, region="us-east-1"))
    damage(state.env_dir("ancient-dev") / "deployment.json", "newer format")
    assert environments.find(None, "hpc-dev") == Record(name="hpc-dev", target="aws", stack="hpc-dev",
                                                        region="us-east-1")
    with pytest.raises(TargetError, match="ancient-dev/deployment.json was written by another version"):
        environments.find("ancient-dev", None)
