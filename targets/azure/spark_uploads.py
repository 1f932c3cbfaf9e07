"""The HDInsight cluster's storage as `invoke submit-spark` uses it from the user's machine: a job's script,
modules and input go up to ``jobs/<id>/`` in the cluster's container over the Blob API, and its results come
down from there. The cluster reads the same blobs as ``abfss://<container>@<account>.dfs.core.windows.net/...``
(ADLS Gen2 serves one namespace on both endpoints).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from azure.storage.blob import BlobServiceClient, ContainerClient

from remote.download_paths import UnsafeDownload, open_destination, plan_downloads
from targets.azure.errors import AzureError, step
from targets.spark_jobs import input_files

UPLOAD_HINT = "check your login has Storage Blob Data Contributor on the cluster's storage account"


@dataclass(frozen=True)
class JobStorage:
    container: ContainerClient
    account: str  # the storage account's name
    name: str  # the container's (ADLS Gen2: the file system's) name

    def cluster_uri(self, key: str) -> str:
        """Where the cluster finds ``key``: the ABFS driver over TLS."""
        return f"abfss://{self.name}@{self.account}.dfs.core.windows.net/{key}"


def job_storage(container_url: str, credential: Any, account_url: str | None = None,
                verify: str | bool = True) -> JobStorage:
    """The container of ``container_url`` (``https://<account>.blob.core.windows.net/<container>``), reached at
    ``account_url`` when given (an emulator) with ``credential`` (a token credential or an account key)."""
    url = urlparse(container_url)
    account, container = url.hostname.split(".")[0] if url.hostname else "", url.path.strip("/")
    if url.scheme != "https" or not account or not container or "/" in container:
        raise AzureError(f"submit-spark: the Spark cluster's bucket {container_url!r} is not a container URL "
                         "(https://<account>.blob.core.windows.net/<container>); run `invoke up` again")
    service = BlobServiceClient(account_url or f"https://{url.hostname}", credential=credential,
                                connection_verify=verify)
    return JobStorage(service.get_container_client(container), account, container)


def upload_bytes(storage: JobStorage, body: bytes, key: str) -> str:
    with step(f"uploading {key} to container {storage.name} of {storage.account}", UPLOAD_HINT):
        storage.container.upload_blob(key, body, overwrite=True)
    return storage.cluster_uri(key)


def upload_input(storage: JobStorage, path: Path, prefix: str) -> str:
    """A local input file or directory into the job's folder; returns the location Spark is given."""
    key, files = input_files(path, prefix)
    for file, file_key in files:
        with step(f"uploading {file} to container {storage.name} of {storage.account}", UPLOAD_HINT), \
                file.open("rb") as data:
            storage.container.upload_blob(file_key, data, overwrite=True)  # in blocks for large files
    return storage.cluster_uri(key)


def download(storage: JobStorage, prefix: str, target: Path) -> None:
    """Every blob under ``prefix`` into ``target``, keeping the relative paths; ADLS Gen2's directory entries
    (blobs marked ``hdi_isfolder``) only make their folder, and every name is checked (remote/download_paths.py)
    before the first blob is downloaded."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with step(f"downloading {prefix} of container {storage.name} into {target}",
              "check your login has Storage Blob Data Reader on the cluster's storage account; the results stay "
              "there until then"):
        names = [blob.name[len(prefix):] + ("/" if (blob.metadata or {}).get("hdi_isfolder") == "true" else "")
                 for blob in storage.container.list_blobs(name_starts_with=prefix, include=["metadata"])]
        try:
            for name, destination in plan_downloads(root, names):
                with open_destination(root, destination) as out:
                    storage.container.download_blob(f"{prefix}{name}").readinto(out)
        except UnsafeDownload as exc:
            raise AzureError(f"downloading {prefix} of container {storage.name} into {target}: {exc}; the download "
                             f"stopped there, the results stay in {storage.cluster_uri(prefix)}") from exc
