"""Workload kinds: Deployments, ReplicaSets, DaemonSets, StatefulSets, Jobs, CronJobs, ControllerRevisions.

Part of the registry layer. They share one shape (a selector, a pod template, a status the controllers
write) and so one base strategy; each subclass adds its defaults (those of k8s.io/api apps/v1 and batch/v1
`SetDefaults_*`) and its own rules. Templates are defaulted and validated by the pod module.
"""

from __future__ import annotations


from ...api.meta import json_copy
from ...api import validation as v
from ...api.cron import ScheduleError, parse_schedule
from ...api.selectors import SelectorError, label_selector_from_dict
from ..strategy import Strategy, get_path
from .pods import default_pod_template, validate_pod_template


def _int_or_percent(value, path: str) -> list[v.Cause]:
    if isinstance(value, bool) or value is None:
        return [v.invalid(path, value, "must be an integer or percentage (e.g '5%')")] if value is not None else []
    if isinstance(value, int):
        return [v.invalid(path, value, "must be greater than or equal to 0")] if value < 0 else []
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return []
    return [v.invalid(path, value, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]


def _non_negative(spec: dict, key: str, path: str) -> list[v.Cause]:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool):
        return [v.type_invalid(f"{path}.{key}", value, "must be an integer")]
    return [v.invalid(f"{path}.{key}", value, "must be greater than or equal to 0")] if value < 0 else []


class WorkloadStrategy(Strategy):
    """A kind whose spec holds `selector` and `template` (a pod template)."""

    tracks_generation = True
    template_path = "spec.template"
    restart_policies: tuple[str, ...] = ("Always",)
    selector_required = True

    def defaults(self, spec: dict) -> None:
        """Kind defaults for `spec` (besides the template's)."""

    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            self.defaults(spec)
            default_pod_template(get_path(obj, self.template_path))

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_update(obj, old)
        spec = obj.get("spec")
        if isinstance(spec, dict):
            self.defaults(spec)
            default_pod_template(get_path(obj, self.template_path))

    def validate(self, obj: dict) -> list[v.Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [v.required("spec")]
        causes: list[v.Cause] = []
        selector_path = self.template_path.rsplit(".", 1)[0] + ".selector"
        selector = get_path(obj, selector_path)
        if selector is None:
            if self.selector_required:
                causes.append(v.required(selector_path))
        elif not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            causes.append(v.invalid(selector_path, selector, "empty selector is invalid for deployment"))
        else:
            try:
                parsed = label_selector_from_dict(selector)
                template_labels = (get_path(obj, self.template_path + ".metadata.labels") or {})
                if not parsed.matches(template_labels):
                    causes.append(v.invalid(self.template_path + ".metadata.labels", template_labels,
                                            "`selector` does not match template `labels`"))
            except SelectorError as exc:
                causes.append(v.invalid(selector_path, selector, str(exc)))
        template = get_path(obj, self.template_path)
        causes += validate_pod_template(template, self.template_path)
        policy = get_path(obj, self.template_path + ".spec.restartPolicy")
        if isinstance(template, dict) and policy not in self.restart_policies:
            causes.append(v.not_supported(self.template_path + ".spec.restartPolicy", policy, self.restart_policies))
        return causes + self.validate_spec(spec)

    def validate_spec(self, spec: dict) -> list[v.Cause]:
        return _non_negative(spec, "replicas", "spec") + _non_negative(spec, "revisionHistoryLimit", "spec") \
            + _non_negative(spec, "minReadySeconds", "spec")

    def validate_update(self, obj: dict, old: dict) -> list[v.Cause]:
        causes = self.validate(obj)
        selector_path = self.template_path.rsplit(".", 1)[0] + ".selector"
        if get_path(obj, selector_path) != get_path(old, selector_path) and self.selector_immutable:
            causes.append(v.invalid(selector_path, get_path(obj, selector_path), "field is immutable"))
        return causes

    selector_immutable = True


class DeploymentStrategy(WorkloadStrategy):
    def defaults(self, spec: dict) -> None:
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxUnavailable", "25%")
                    rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)

    def validate_spec(self, spec: dict) -> list[v.Cause]:
        causes = super().validate_spec(spec)
        strategy = spec.get("strategy") or {}
        kind = strategy.get("type")
        if kind not in ("RollingUpdate", "Recreate"):
            causes.append(v.not_supported("spec.strategy.type", kind, ("Recreate", "RollingUpdate")))
        elif kind == "Recreate" and strategy.get("rollingUpdate"):
            causes.append(v.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
        rolling = strategy.get("rollingUpdate") or {}
        causes += _int_or_percent(rolling.get("maxUnavailable"), "spec.strategy.rollingUpdate.maxUnavailable")
        causes += _int_or_percent(rolling.get("maxSurge"), "spec.strategy.rollingUpdate.maxSurge")
        if rolling.get("maxUnavailable") in (0, "0%") and rolling.get("maxSurge") in (0, "0%"):
            causes.append(v.invalid("spec.strategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable"),
                                    "may not be 0 when `maxSurge` is 0"))
        deadline = spec.get("progressDeadlineSeconds")
        if isinstance(deadline, int) and deadline <= (spec.get("minReadySeconds") or 0):
            causes.append(v.invalid("spec.progressDeadlineSeconds", deadline,
                                    "must be greater than minReadySeconds"))
        return causes


class ReplicaSetStrategy(WorkloadStrategy):
    def defaults(self, spec: dict) -> None:
        spec.setdefault("replicas", 1)


TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


class DaemonSetStrategy(WorkloadStrategy):
    """Also keeps `deprecated.daemonset.template.generation`, the generation of the last template change
    (the DaemonSet controller labels pods `pod-template-generation` with it)."""

    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        obj["metadata"].setdefault("annotations", {})[TEMPLATE_GENERATION] = "1"

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_update(obj, old)
        template_changed = get_path(obj, "spec.template") != get_path(old, "spec.template")
        previous = (old["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION)
        generation = old["metadata"].get("generation", 1) + 1 if template_changed else previous
        if generation is not None:
            obj["metadata"].setdefault("annotations", {})[TEMPLATE_GENERATION] = str(generation)

    def defaults(self, spec: dict) -> None:
        strategy = spec.setdefault("updateStrategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxUnavailable", 1)
                    rolling.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)

    def validate_spec(self, spec: dict) -> list[v.Cause]:
        causes = _non_negative(spec, "revisionHistoryLimit", "spec") + _non_negative(spec, "minReadySeconds", "spec")
        kind = (spec.get("updateStrategy") or {}).get("type")
        if kind not in ("RollingUpdate", "OnDelete"):
            causes.append(v.not_supported("spec.updateStrategy.type", kind, ("OnDelete", "RollingUpdate")))
        return causes


class StatefulSetStrategy(WorkloadStrategy):
    def defaults(self, spec: dict) -> None:
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("partition", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
        for claim in spec.get("volumeClaimTemplates") or []:
            if isinstance(claim, dict):
                claim.setdefault("apiVersion", "v1")
                claim.setdefault("kind", "PersistentVolumeClaim")
                claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
                claim.setdefault("status", {"phase": "Pending"})

    def validate_spec(self, spec: dict) -> list[v.Cause]:
        causes = super().validate_spec(spec)
        policy = spec.get("podManagementPolicy")
        if policy not in ("OrderedReady", "Parallel"):
            causes.append(v.not_supported("spec.podManagementPolicy", policy, ("OrderedReady", "Parallel")))
        kind = (spec.get("updateStrategy") or {}).get("type")
        if kind not in ("RollingUpdate", "OnDelete"):
            causes.append(v.not_supported("spec.updateStrategy.type", kind, ("OnDelete", "RollingUpdate")))
        return causes

    def validate_update(self, obj: dict, old: dict) -> list[v.Cause]:
        causes = super().validate_update(obj, old)
        mutable = ("replicas", "template", "updateStrategy", "minReadySeconds", "persistentVolumeClaimRetentionPolicy",
                   "ordinals", "revisionHistoryLimit")
        new = {k: x for k, x in (obj.get("spec") or {}).items() if k not in mutable}
        before = {k: x for k, x in (old.get("spec") or {}).items() if k not in mutable}
        if new != before:
            causes.append(v.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                              "'template', 'updateStrategy', 'revisionHistoryLimit', "
                                              "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
        return causes


JOB_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")


class JobStrategy(WorkloadStrategy):
    restart_policies = ("OnFailure", "Never")
    selector_required = False
    field_labels = ("status.successful",)

    def defaults(self, spec: dict) -> None:
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
            spec["parallelism"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")

    def prepare_for_create(self, obj: dict) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec")
        if isinstance(spec, dict) and not spec.get("manualSelector"):
            self._generate_selector(obj)

    @staticmethod
    def _generate_selector(obj: dict) -> None:
        """batch/v1 jobs select their pods by the job's uid (JobStrategy.PrepareForCreate → generateSelector)."""
        meta, spec = obj["metadata"], obj["spec"]
        uid, name = meta["uid"], meta.get("name") or meta.get("generateName", "")
        template = spec.setdefault("template", {})
        if not isinstance(template, dict):
            return
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.update({
            "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
            "controller-uid": uid, "job-name": name,
        })
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}

    def validate_spec(self, spec: dict) -> list[v.Cause]:
        causes = []
        for key in ("parallelism", "completions", "backoffLimit"):
            causes += _non_negative(spec, key, "spec")
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and (not isinstance(deadline, int) or deadline <= 0):
            causes.append(v.invalid("spec.activeDeadlineSeconds", deadline, "must be greater than or equal to 1"))
        ttl = spec.get("ttlSecondsAfterFinished")
        causes += _non_negative(spec, "ttlSecondsAfterFinished", "spec") if ttl is not None else []
        mode = spec.get("completionMode")
        if mode not in ("NonIndexed", "Indexed"):
            causes.append(v.not_supported("spec.completionMode", mode, ("NonIndexed", "Indexed")))
        return causes

    def validate_update(self, obj: dict, old: dict) -> list[v.Cause]:
        causes = self.validate(obj)
        new_spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        if new_spec.get("selector") != old_spec.get("selector"):
            causes.append(v.invalid("spec.selector", new_spec.get("selector"), "field is immutable"))
        if new_spec.get("completions") != old_spec.get("completions"):
            causes.append(v.invalid("spec.completions", new_spec.get("completions"), "field is immutable"))
        if new_spec.get("template") != old_spec.get("template") and not old_spec.get("suspend"):
            causes.append(v.invalid("spec.template", new_spec.get("template"), "field is immutable"))
        return causes

    def selectable_fields(self, obj: dict) -> dict[str, str]:
        fields = super().selectable_fields(obj)
        fields["status.successful"] = str((obj.get("status") or {}).get("succeeded", 0))
        return fields


class CronJobStrategy(WorkloadStrategy):
    template_path = "spec.jobTemplate.spec.template"
    restart_policies = ("OnFailure", "Never")
    selector_required = False
    selector_immutable = False

    def defaults(self, spec: dict) -> None:
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)

    def validate_spec(self, spec: dict) -> list[v.Cause]:
        causes = []
        schedule = spec.get("schedule")
        if not schedule:
            causes.append(v.required("spec.schedule"))
        else:
            try:
                parse_schedule(schedule)
            except ScheduleError as exc:
                causes.append(v.invalid("spec.schedule", schedule, str(exc)))
        policy = spec.get("concurrencyPolicy")
        if policy not in ("Allow", "Forbid", "Replace"):
            causes.append(v.not_supported("spec.concurrencyPolicy", policy, ("Allow", "Forbid", "Replace")))
        for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit", "startingDeadlineSeconds"):
            causes += _non_negative(spec, key, "spec")
        return causes


class ControllerRevisionStrategy(Strategy):
    def validate(self, obj: dict) -> list[v.Cause]:
        revision = obj.get("revision")
        if not isinstance(revision, int) or revision < 0:
            return [v.invalid("revision", revision, "must be greater than or equal to 0")]
        return []

    def validate_update(self, obj: dict, old: dict) -> list[v.Cause]:
        causes = self.validate(obj)
        if obj.get("data") != old.get("data"):
            causes.append(v.invalid("data", "", "field is immutable"))
        return causes


def template_copy(obj: dict, path: str = "spec.template") -> dict:
    return json_copy(get_path(obj, path) or {})
