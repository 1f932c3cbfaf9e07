"""Disks as someone else left them, for the tests that check a device is never reformatted."""

from __future__ import annotations

import struct


def write_partition_table(device: str) -> None:
    """An MBR with one Linux partition and no file system anywhere: what a mount must refuse to format."""
    with open(device, "r+b") as disk:
        disk.seek(446)
        disk.write(bytes([0x00, 0, 0, 0, 0x83, 0, 0, 0]) + struct.pack("<II", 2048, 4096))
        disk.seek(510)
        disk.write(b"\x55\xaa")
