"""Images built without a registry: a root filesystem of Debian's static busybox (`/bin/busybox` and its
links) plus shell-script algorithms, imported with `podman import` (or `docker import`). The container
tests and the demo build their images here; a real deployment pulls its job types' images from a registry.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from workers.local_cluster.containers import global_args, runtime

BUSYBOX = Path("/bin/busybox")
TOOLS = ("sh", "cat", "echo", "wc", "sleep", "ls", "mkdir", "tr", "printf", "head")


class ImageUnavailable(RuntimeError):
    """No image can be built here; the message names what is missing."""


def missing() -> str | None:
    """Why no image can be built on this machine (None: one can)."""
    if runtime() is None:
        return "no container tool (apt-get install podman runc)"
    if not BUSYBOX.exists():
        return "busybox-static is not installed (/bin/busybox)"
    return None


def build_busybox_image(image: str, algorithms: dict[str, str]) -> str:
    """Import `image`: busybox with `algorithms` ({name: shell script}) as /bin/<name>; the tool used."""
    reason = missing()
    if reason:
        raise ImageUnavailable(reason)
    tool = runtime()
    assert tool is not None
    with tempfile.TemporaryDirectory(prefix="scale-image-") as work:
        root = Path(work) / "rootfs"
        (root / "bin").mkdir(parents=True)
        shutil.copy(BUSYBOX, root / "bin" / "busybox")
        for name in TOOLS:
            (root / "bin" / name).symlink_to("busybox")
        for name, script in algorithms.items():
            path = root / "bin" / name
            path.write_text("#!/bin/sh\n" + script + "\n")
            path.chmod(0o755)
        archive = Path(work) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(root, arcname=".")
        done = subprocess.run([tool, *global_args(tool), "import", str(archive), image], capture_output=True, text=True)
        if done.returncode != 0:
            raise ImageUnavailable(f"{tool} import failed: {done.stderr.strip()}")
    return tool


def remove_image(image: str) -> None:
    tool = runtime()
    if tool is not None:
        subprocess.run([tool, *global_args(tool), "rmi", "-f", image], capture_output=True)
