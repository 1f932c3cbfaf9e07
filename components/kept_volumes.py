"""What AWS and Azure share about a volume a destroy kept and the next `up` adopts again."""

from __future__ import annotations


def check_size(at: str, size_gb: int | None, volume_id: str, size: int) -> None:
    """EBS and managed disks grow in place (what adopting with a bigger size_gb does) but never shrink."""
    if size_gb is not None and size_gb < size:
        raise ValueError(f"{at}.size_gb = {size_gb}: the retained volume {volume_id} has {size} GB and cannot "
                         f"shrink; give {size} or more")
