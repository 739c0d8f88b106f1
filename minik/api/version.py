"""The Kubernetes version minik speaks, for `/version` and `minik version`.

Part of the API layer's bottom (data only). kubectl warns when the server is more than one minor version
away from it; the default kubectl here is 1.32, so minik reports 1.32 (k3s style: `v1.32.0+minik`).
"""

from __future__ import annotations

import platform
import sys

from .. import __version__

KUBERNETES_VERSION = "v1.32.0"


def version_info() -> dict:
    """The `/version` document (k8s.io/apimachinery/pkg/version.Info)."""
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": f"{KUBERNETES_VERSION}+minik",
        "gitCommit": f"minik-{__version__}",
        "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z",
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython",
        "platform": f"linux/{machine}",
    }
