"""What `invoke submit-spark --attach ID` needs to follow a cloud Spark job again after its client died or lost the
network: one small record per job, written right after the submit and removed once the job has been followed to
its end (results downloaded) or cancelled. The job keeps running on the cluster either way; without the record
its exit code, its failure cause and its local output would be lost to the user.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from spec.outputs import SparkCluster
from targets.errors import TargetError
from targets.state import env_dir, read_typed, write_state

RECORDS = "spark-jobs"  # under the environment's folder: spark-jobs/<cluster job id>.json


def reattach(cluster_job_id: str) -> str:
    """What a user whose client lost a running job does next."""
    return f"the job keeps running on the cluster: follow it again with `invoke submit-spark --attach {cluster_job_id}`"


@contextmanager
def finishing(cluster_job_id: str) -> Iterator[None]:
    """Around what follows a job's end (downloading its results, reading its cause): a failure there leaves the
    record, and its one line says how to finish later."""
    try:
        yield
    except TargetError as exc:
        raise type(exc)(f"{exc}; the job has ended and its record is kept: finish it (results, cause) with "
                        f"`invoke submit-spark --attach {cluster_job_id}`") from exc


class SparkJobRecord(BaseModel):
    """A submitted job as its follower needs it: where it runs, where its files are, where its results go."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Literal["aws", "azure"]
    cluster: str  # where it runs: the EMR cluster id, the Livy endpoint (the contract's spark.master)
    cluster_job_id: str  # the EMR step id, the Livy batch id
    prefix: str  # the job's folder in the cluster's storage: jobs/<id>/
    output_uri: str
    output_dir: Path | None  # the local directory the results are downloaded into, if one was asked for
    script: str  # the script's file name, for the user's eyes
    submitted: datetime


@dataclass(frozen=True)
class JobRecords:
    """The records of one environment's jobs, one JSON file each, mode 0600 like the rest of its state."""

    folder: Path

    @classmethod
    def of(cls, name: str) -> JobRecords:
        return cls(env_dir(name) / RECORDS)

    def save(self, record: SparkJobRecord) -> None:
        """Called right after the submit: a failure here must still name the job that now runs."""
        try:
            write_state(self._path(record.cluster_job_id), json.loads(record.model_dump_json()))
        except OSError as exc:
            raise TargetError(f"job {record.cluster_job_id} on {record.cluster} was submitted and runs, but its record "
                              f"could not be written to {self.folder} ({exc.strerror or exc}); it cannot be attached "
                              f"to: follow it on the cluster, its results go to {record.output_uri}") from exc

    def ids(self) -> list[str]:
        return sorted(path.stem for path in self.folder.glob("*.json")) if self.folder.is_dir() else []

    def load(self, cluster_job_id: str, spark: SparkCluster) -> SparkJobRecord:
        """The record of ``cluster_job_id``, of a job on the environment's ``spark`` cluster; one line naming the
        known ids otherwise (the id is only ever compared, never made into a path)."""
        known = self.ids()
        if cluster_job_id not in known:
            raise TargetError(f"submit-spark --attach {cluster_job_id}: no record of that job in {self.folder} "
                              f"(jobs to attach to: {', '.join(known) or 'none'})")
        remedy = "remove it and follow the job on the cluster: this version cannot attach to it"
        record = read_typed(self._path(cluster_job_id), remedy, SparkJobRecord, set(SparkJobRecord.model_fields))
        if (record.provider, record.cluster) != (spark.provider, spark.master):
            raise TargetError(f"submit-spark --attach {cluster_job_id}: the job ran on {record.provider} cluster "
                              f"{record.cluster} and the environment's Spark cluster is now {spark.provider} "
                              f"{spark.master} (made again by `invoke up`?); it cannot be followed, what it wrote is "
                              f"at {record.output_uri}")
        return record

    def remove(self, cluster_job_id: str) -> None:
        self._path(cluster_job_id).unlink(missing_ok=True)

    def _path(self, cluster_job_id: str) -> Path:
        return self.folder / f"{cluster_job_id}.json"
