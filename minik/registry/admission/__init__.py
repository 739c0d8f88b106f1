"""Admission plugins beyond NamespaceLifecycle: defaults and limits applied inside every write.

Part of the registry layer: `Registry.admission` is the ordered plugin list that every create, update and
delete runs (mutating `admit` of each plugin in order, then the kind's validation, then `validate` of each
plugin in order). These mirror kube-apiserver's plugin/pkg/admission plugins of the same names, and
`default_plugins()` returns them in kube-apiserver's order (AllOrderedPlugins: LimitRanger,
ServiceAccount, DefaultTolerationSeconds, ..., ResourceQuota last), to be appended after the
NamespaceLifecycle plugin the registry installs itself.
"""

from __future__ import annotations

from .defaulttolerationseconds import DefaultTolerationSeconds
from .limitranger import LimitRanger
from .quota import ResourceQuotaAdmission
from .serviceaccount import ServiceAccountAdmission

__all__ = ["DefaultTolerationSeconds", "LimitRanger", "ResourceQuotaAdmission", "ServiceAccountAdmission",
           "default_plugins"]


def default_plugins() -> list:
    """The plugins in kube-apiserver's order (ResourceQuota must stay last: it counts what the others let in)."""
    return [LimitRanger(), ServiceAccountAdmission(), DefaultTolerationSeconds(), ResourceQuotaAdmission()]
