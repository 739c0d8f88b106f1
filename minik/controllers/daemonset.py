"""The DaemonSet controller: one pod of a DaemonSet on every node that should run it (pkg/controller/daemon).

Part of the controllers layer. Informers on DaemonSets, Pods, Nodes and ControllerRevisions feed the
queue; a sync of a DaemonSet, as kube-controller-manager's does:

1. records the template as a ControllerRevision (`<ds>-<hash>`); its hash is the pods'
   `controller-revision-hash` label;
2. decides per node whether a daemon pod should run there (`spec.nodeName`, `nodeSelector`, required
   node affinity, and the node's NoSchedule/NoExecute taints against the pod's tolerations, which always
   include the DaemonSet defaults: not-ready/unreachable NoExecute, disk-/memory-/pid-pressure and
   unschedulable NoSchedule, network-unavailable for host-network pods), creates the missing pods and
   deletes failed, surplus and misplaced ones (SuccessfulCreate, SuccessfulDelete, FailedDaemonPod);
3. rolls pods to the new revision within `maxUnavailable` (deleting old pods) or `maxSurge` (starting
   new pods beside old ones), or leaves it to the user under OnDelete;
4. prunes revisions beyond `revisionHistoryLimit` and writes the status counters.

Pods are not bound by this controller: each is pinned to its node with a required node-affinity term
`matchFields metadata.name In [<node>]`, and the scheduler binds it (as since Kubernetes 1.12). Pod
creations and deletions are tracked as expectations, so a stale cache cannot make a sync act twice.
"""

from __future__ import annotations

import math

from ..api.meta import json_copy, key_of
from ..api.errors import APIError
from ..api.selectors import SelectorError, label_selector_from_dict
from ..client.informer import controller_uid_index
from ..client.interface import is_not_found, resource
from .base import Controller
from .expectations import Expectations
from .hashing import compute_hash
from .podutil import is_pod_available, is_pod_ready, is_terminal, pod_from_template
from .revisions import REVISION_HASH_LABEL, History, matches, new_revision, revision_name, revision_number

DAEMONSETS = resource("daemonsets", "apps")
PODS = resource("pods")
NODES = resource("nodes")
CONTROLLER_REVISIONS = resource("controllerrevisions", "apps")
CONTROLLER_UID_INDEX = "controller-uid"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
NODE_NAME_FIELD = "metadata.name"
BURST_REPLICAS = 250
FAILED_POD_BACKOFF = (1.0, 900.0)  # failedPodsBackoff: 1 s doubling up to 15 min per DaemonSet and node

# The tolerations every daemon pod gets (util.AddOrUpdateDaemonPodTolerations).
DAEMON_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
HOST_NETWORK_TOLERATION = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                           "effect": "NoSchedule"}


# --- scheduling predicates (the parts of the scheduler the DaemonSet controller runs itself) ---


def add_daemon_tolerations(spec: dict) -> None:
    """Add (or replace equal) default daemon tolerations (v1helper.AddOrUpdateTolerationInPodSpec)."""
    wanted = list(DAEMON_TOLERATIONS) + ([HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else [])
    tolerations = list(spec.get("tolerations") or [])
    for toleration in wanted:
        same = [i for i, t in enumerate(tolerations) if _same_toleration(t, toleration)]
        if same:
            tolerations[same[0]] = dict(toleration)
        else:
            tolerations.append(dict(toleration))
    spec["tolerations"] = tolerations


def _same_toleration(a: dict, b: dict) -> bool:
    def norm(t: dict) -> tuple:
        return (t.get("key", ""), t.get("operator") or "Equal", t.get("value", ""), t.get("effect", ""))
    return norm(a) == norm(b)


def tolerates(toleration: dict, taint: dict) -> bool:
    """Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if (toleration.get("operator") or "Equal") == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taints(taints: list[dict], tolerations: list[dict], effects: tuple[str, ...]) -> list[dict]:
    return [t for t in taints if t.get("effect") in effects and not any(tolerates(tol, t) for tol in tolerations)]


def requirement_matches(requirement: dict, values: dict[str, str]) -> bool:
    """A NodeSelectorRequirement against a node's labels (or fields)."""
    key, operator = requirement.get("key", ""), requirement.get("operator", "")
    wanted = requirement.get("values") or []
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            actual, bound = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return actual > bound if operator == "Gt" else actual < bound
    return False


def term_matches(term: dict, node: dict) -> bool:
    """A NodeSelectorTerm: all its requirements hold (an empty term matches nothing)."""
    expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not expressions and not fields:
        return False
    labels = node["metadata"].get("labels") or {}
    node_fields = {NODE_NAME_FIELD: node["metadata"]["name"]}
    return all(requirement_matches(r, labels) for r in expressions) and \
        all(requirement_matches(r, node_fields) for r in fields)


def fits_node_affinity(spec: dict, node: dict) -> bool:
    """nodeSelector and required node affinity (nodeaffinity.GetRequiredNodeAffinity(pod).Match(node))."""
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def daemon_pod_spec(ds: dict) -> dict:
    spec = json_copy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    add_daemon_tolerations(spec)
    return spec


def node_should_run(node: dict, ds: dict) -> tuple[bool, bool]:
    """(should run a daemon pod here, may keep one running here) — NodeShouldRunDaemonPod."""
    spec = daemon_pod_spec(ds)
    if spec.get("nodeName") and spec["nodeName"] != node["metadata"]["name"]:
        return False, False
    if not fits_node_affinity(spec, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = spec.get("tolerations") or []
    if untolerated_taints(taints, tolerations, ("NoSchedule", "NoExecute")):
        # A running daemon pod stays unless a NoExecute taint would evict it.
        return False, not untolerated_taints(taints, tolerations, ("NoExecute",))
    return True, True


def pin_to_node(spec: dict, node_name: str) -> None:
    """Replace the required node affinity by `metadata.name In [node]` (ReplaceDaemonSetPodNodeNameNodeAffinity)."""
    term = {"matchFields": [{"key": NODE_NAME_FIELD, "operator": "In", "values": [node_name]}]}
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = [term]


def target_node(pod: dict) -> str:
    """The node a daemon pod is for: its nodeName, or its matchFields affinity (GetTargetNodeName)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for requirement in term.get("matchFields") or []:
            values = requirement.get("values") or []
            if requirement.get("key") == NODE_NAME_FIELD and requirement.get("operator") == "In" and len(values) == 1:
                return values[0]
    return ""


# --- rolling update arithmetic ---


def scaled_value(value, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent(value, total, roundUp=true)."""
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def rolling_params(ds: dict) -> dict:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type") != "RollingUpdate":
        return {}
    return strategy.get("rollingUpdate") or {}


def max_surge(ds: dict, desired: int) -> int:
    return scaled_value(rolling_params(ds).get("maxSurge"), desired)


def max_unavailable(ds: dict, desired: int) -> int:
    return scaled_value(rolling_params(ds).get("maxUnavailable"), desired)


def allows_surge(ds: dict) -> bool:
    return max_surge(ds, 1) != 0


def template_generation(ds: dict) -> str | None:
    return ((ds.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)


def is_pod_updated(pod: dict, hash_: str, generation: str | None) -> bool:
    """The pod is at the current revision (util.IsPodUpdated)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    by_generation = generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == generation
    return (bool(hash_) and labels.get(REVISION_HASH_LABEL) == hash_) or by_generation


def by_age(pods: list[dict]) -> list[dict]:
    """podByCreationTimestampAndPhase: oldest first, running before pending at equal age."""
    return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "",
                                       (p.get("status") or {}).get("phase") != "Running", p["metadata"]["name"]))


class DaemonSetController(Controller):
    name = "daemonset"

    def setup(self) -> None:
        self.expectations = Expectations(self.clock)
        self._failed_backoff: dict[str, tuple[float, float]] = {}  # "<ds key>/<node>" → (delay, since)
        self.daemonsets = self.informer(DAEMONSETS)
        self.pods = self.informer(PODS, indexers={CONTROLLER_UID_INDEX: controller_uid_index})
        self.nodes = self.informer(NODES)
        self.history = History(self.client, self.informer(CONTROLLER_REVISIONS))
        self.daemonsets.add_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_handler(self._node_changed, self._node_updated, self._node_changed)

    # --- event handlers ---

    def _owner(self, pod: dict) -> dict | None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "DaemonSet":
                ds = self.daemonsets.get(f"{pod['metadata']['namespace']}/{ref.get('name')}")
                if ds is not None and ds["metadata"]["uid"] == ref.get("uid"):
                    return ds
        return None

    def _pod_added(self, pod: dict) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        ds = self._owner(pod)
        if ds is not None:
            self.expectations.creation_observed(key_of(ds))
            self.enqueue(ds)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if new["metadata"].get("deletionTimestamp"):
            self._pod_deleted(new)
            return
        if old["metadata"].get("ownerReferences") != new["metadata"].get("ownerReferences"):
            previous = self._owner(old)
            if previous is not None:
                self.enqueue(previous)
        ds = self._owner(new)
        if ds is not None:
            self.enqueue(ds)

    def _pod_deleted(self, pod: dict) -> None:
        ds = self._owner(pod)
        if ds is not None:
            self.expectations.deletion_observed(key_of(ds), pod["metadata"]["uid"])
            self.enqueue(ds)

    def _node_changed(self, node: dict) -> None:
        for ds in self.daemonsets.list():
            self.enqueue(ds)

    def _node_updated(self, old: dict, new: dict) -> None:
        # Only what decides placement matters; a heartbeat does not.
        if (old["metadata"].get("labels"), old.get("spec")) != (new["metadata"].get("labels"), new.get("spec")):
            self._node_changed(new)

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        cached = self.daemonsets.get(key)
        if cached is None:
            self.expectations.forget(key)
            return
        if cached["metadata"].get("deletionTimestamp"):
            return
        ds = json_copy(cached)
        try:
            selector = label_selector_from_dict((ds.get("spec") or {}).get("selector"))
        except SelectorError:
            return
        if selector.empty:
            self.record(ds, "Warning", "SelectingAll",
                        "This daemon set is selecting all pods. A non-empty selector is required.")
            return
        nodes = self.nodes.list()
        current, old = await self._construct_history(ds)
        hash_ = current["metadata"]["labels"][REVISION_HASH_LABEL]
        if not self.expectations.satisfied(key):
            # Our last writes are not in the cache yet: report, but do not act on a stale view.
            await self._update_status(ds, nodes, hash_, observed=False)
            return
        error: Exception | None = None
        try:
            await self._manage(ds, nodes, key=key, hash_=hash_)
            # manage's writes must be seen before a rollout decides anything (OnDelete: never).
            if self.expectations.satisfied(key) and \
                    (ds["spec"].get("updateStrategy") or {}).get("type") == "RollingUpdate":
                await self._rolling_update(ds, nodes, key=key, hash_=hash_)
        except APIError as exc:
            error = exc
        await self._cleanup_history(ds, old)
        await self._update_status(ds, nodes, hash_, observed=True)
        if error is not None:
            raise error

    def _nodes_to_pods(self, ds: dict, include_deleted_terminal: bool = False) -> dict[str, list[dict]]:
        result: dict[str, list[dict]] = {}
        for pod in self.pods.indexer.by_index(CONTROLLER_UID_INDEX, ds["metadata"]["uid"]):
            if not include_deleted_terminal and is_terminal(pod) and pod["metadata"].get("deletionTimestamp"):
                continue  # only the kubelet or the pod GC has anything left to do with it
            node = target_node(pod)
            if node:
                result.setdefault(node, []).append(pod)
        return result

    # --- manage: which nodes need a pod, which pods must go ---

    async def _manage(self, ds: dict, nodes: list[dict], *, key: str, hash_: str) -> None:
        by_node = self._nodes_to_pods(ds)
        needing: list[str] = []
        to_delete: list[dict] = []
        failed = 0
        for node in nodes:
            create, delete, failed_here = self._pods_should_be_on_node(ds, node, key=key, by_node=by_node,
                                                                       hash_=hash_)
            needing += create
            to_delete += delete
            failed += failed_here
        known = {n["metadata"]["name"] for n in nodes}
        for node_name, pods in by_node.items():
            if node_name not in known:
                # Never scheduled, for a node that does not exist: nothing else would remove these.
                to_delete += [p for p in pods if not (p.get("spec") or {}).get("nodeName")
                              and not p["metadata"].get("deletionTimestamp")]
        await self._sync_nodes(ds, key=key, to_delete=to_delete, needing=needing, hash_=hash_)
        if failed:
            raise APIError(500, "InternalError", f"deleted {failed} failed pods of DaemonSet "
                                                 f"{ds['metadata']['namespace']}/{ds['metadata']['name']}")

    def _pods_should_be_on_node(self, ds: dict, node: dict, *, key: str, by_node: dict[str, list[dict]],
                                hash_: str) -> tuple[list[str], list[dict], int]:
        """podsShouldBeOnNode: (nodes needing a pod, pods to delete, failed pods seen)."""
        node_name = node["metadata"]["name"]
        should_run, may_continue = node_should_run(node, ds)
        pods = by_node.get(node_name)
        if should_run and not pods:
            return [node_name], [], 0
        if not may_continue:
            return [], [p for p in pods or [] if not p["metadata"].get("deletionTimestamp")], 0
        to_delete, running, failed = [], [], 0
        for pod in pods or []:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Failed":
                failed += 1
                if self._failed_pod_in_backoff(f"{key}/{node_name}", ds):
                    continue
                meta = pod["metadata"]
                self.record(ds, "Warning", "FailedDaemonPod",
                            f"Found failed daemon pod {meta['namespace']}/{meta['name']} on node {node_name}, "
                            "will try to kill it")
                to_delete.append(pod)
            elif phase == "Succeeded":
                to_delete.append(pod)  # a daemon pod that finished: replace it
            else:
                running.append(pod)
        to_delete += self._excess_pods(ds, by_age(running), hash_)
        return [], to_delete, failed

    def _excess_pods(self, ds: dict, running: list[dict], hash_: str) -> list[dict]:
        """More than one live pod on a node: keep the oldest, or during a surge the old+new pair."""
        if len(running) <= 1:
            return []
        if not allows_surge(ds):
            return running[1:]
        newest_new = oldest_old = None
        excess = []
        for pod in running:
            if pod["metadata"].get("labels", {}).get(REVISION_HASH_LABEL) == hash_:
                if newest_new is None:
                    newest_new = pod
                    continue
            elif oldest_old is None:
                oldest_old = pod
                continue
            excess.append(pod)
        if newest_new is not None and oldest_old is not None:
            min_ready = ds["spec"].get("minReadySeconds", 0)
            if not is_pod_ready(oldest_old) or is_pod_available(newest_new, min_ready, self.clock.now()):
                excess.append(oldest_old)
        return excess

    def _failed_pod_in_backoff(self, backoff_key: str, ds: dict) -> bool:
        """Deleting failed pods is rate limited per node: a kubelet rejecting pods must not cause a hot loop."""
        now = self.clock.monotonic()
        delay, since = self._failed_backoff.get(backoff_key, (0.0, 0.0))
        if delay and now - since < delay:
            self.enqueue_after(ds, delay - (now - since))
            return True
        initial, cap = FAILED_POD_BACKOFF
        expired = not delay or now - since > 2 * cap
        self._failed_backoff[backoff_key] = (initial if expired else min(delay * 2, cap), now)
        return False

    async def _sync_nodes(self, ds: dict, *, key: str, to_delete: list[dict], needing: list[str], hash_: str) -> None:
        """Create pods on `needing` nodes (slow start batches) and delete `to_delete` (syncNodes)."""
        needing, to_delete = needing[:BURST_REPLICAS], to_delete[:BURST_REPLICAS]
        self.expectations.expect_creations(key, len(needing))
        template = self._pod_template(ds, hash_)
        errors: list[APIError] = []
        position, batch = 0, 1
        while position < len(needing):
            chunk = needing[position:position + batch]
            failures = len(errors)
            for node_name in chunk:
                try:
                    await self._create_pod(ds, template, node_name)
                except APIError as exc:
                    self.expectations.creation_observed(key)
                    errors.append(exc)
            position += len(chunk)
            batch *= 2
            if len(errors) > failures:
                for _ in needing[position:]:
                    self.expectations.creation_observed(key)  # skipped: not expected either
                break
        for pod in to_delete:
            self.expectations.expect_deletions(key, [pod["metadata"]["uid"]])
            try:
                await self._delete_pod(ds, pod)
            except APIError as exc:
                self.expectations.deletion_observed(key, pod["metadata"]["uid"])
                errors.append(exc)
        if errors:
            raise errors[0]

    def _pod_template(self, ds: dict, hash_: str) -> dict:
        """The template with the daemon tolerations and revision labels (util.CreatePodTemplate)."""
        template = json_copy(ds["spec"].get("template") or {})
        add_daemon_tolerations(template.setdefault("spec", {}))
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        generation = template_generation(ds)
        if generation is not None:
            labels[TEMPLATE_GENERATION_LABEL] = generation
        if hash_:
            labels[REVISION_HASH_LABEL] = hash_
        return template

    async def _create_pod(self, ds: dict, template: dict, node_name: str) -> None:
        pod = pod_from_template(template, ds)
        pin_to_node(pod["spec"], node_name)
        try:
            created = await self.client.create(PODS, pod, ds["metadata"]["namespace"])
        except APIError as exc:
            self.record(ds, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            raise
        self.record(ds, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete_pod(self, ds: dict, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            await self.client.delete(PODS, meta["name"], meta["namespace"])
        except APIError as exc:
            if is_not_found(exc):
                return
            self.record(ds, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            raise
        self.record(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")

    # --- rolling update ---

    def _desired_nodes(self, ds: dict, nodes: list[dict], by_node: dict[str, list[dict]]) -> int:
        """How many nodes should run a pod; such nodes without pods get an empty entry in by_node."""
        desired = 0
        for node in nodes:
            if node_should_run(node, ds)[0]:
                desired += 1
                by_node.setdefault(node["metadata"]["name"], [])
        return desired

    async def _rolling_update(self, ds: dict, nodes: list[dict], *, key: str, hash_: str) -> None:
        by_node = self._nodes_to_pods(ds)
        desired = self._desired_nodes(ds, nodes, by_node)
        surge, unavailable = max_surge(ds, desired), max_unavailable(ds, desired)
        if desired > 0 and surge == 0 and unavailable == 0:
            unavailable = 1  # an impossible configuration: accept unavailability, as Kubernetes does
        if surge == 0:
            to_delete = self._replace_within_unavailable(ds, by_node, hash_=hash_, limit=unavailable)
            await self._sync_nodes(ds, key=key, to_delete=to_delete, needing=[], hash_=hash_)
        else:
            to_delete, to_create = self._surge(ds, by_node, nodes=nodes, hash_=hash_, surge=surge, desired=desired)
            await self._sync_nodes(ds, key=key, to_delete=to_delete, needing=to_create, hash_=hash_)

    def _updated_and_old(self, ds: dict, pods: list[dict], hash_: str) -> tuple[dict | None, dict | None, bool]:
        """(new pod, old pod, ok) among a node's live pods; not ok if either is repeated (findUpdatedPodsOnNode)."""
        new = old = None
        generation = template_generation(ds)
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            if is_pod_updated(pod, hash_, generation):
                if new is not None:
                    return None, None, False
                new = pod
            else:
                if old is not None:
                    return None, None, False
                old = pod
        return new, old, True

    def _replace_within_unavailable(self, ds: dict, by_node: dict[str, list[dict]], *, hash_: str,
                                    limit: int) -> list[dict]:
        """Without surge: delete old pods while fewer than maxUnavailable pods are unavailable."""
        min_ready, now = ds["spec"].get("minReadySeconds", 0), self.clock.now()
        unavailable = 0
        replacements, candidates = [], []
        for node_name in sorted(by_node):
            new, old, ok = self._updated_and_old(ds, by_node[node_name], hash_)
            if not ok or (new is None) == (old is None):
                unavailable += 1  # the manage loop creates or prunes here: count it as unavailable
            elif new is not None:
                unavailable += not is_pod_available(new, min_ready, now)
            elif not is_pod_available(old, min_ready, now):
                replacements.append(old)  # an unavailable old pod costs nothing to replace
                unavailable += 1
            elif unavailable < limit:
                candidates.append(old)
        room = max(0, min(limit - unavailable, len(candidates)))
        return replacements + candidates[:room]

    def _surge(self, ds: dict, by_node: dict[str, list[dict]], *, nodes: list[dict], hash_: str, surge: int,
               desired: int) -> tuple[list[dict], list[str]]:
        """With surge: start new pods beside old ones, delete each old pod once its new one is available."""
        min_ready, now = ds["spec"].get("minReadySeconds", 0), self.clock.now()
        nodes_by_name = {n["metadata"]["name"]: n for n in nodes}
        to_delete, should_not_run, candidates, allowed = [], [], [], []
        surging = available = 0
        for node_name in sorted(by_node):
            new, old, ok = self._updated_and_old(ds, by_node[node_name], hash_)
            if not ok:
                surging += 1
                continue
            pod = old if old is not None else new
            if pod is not None and is_pod_available(pod, min_ready, now):
                available += 1
            node = nodes_by_name.get(node_name)
            should_run = node is not None and node_should_run(node, ds)[0]
            if old is None:
                continue
            if new is None:
                if not is_pod_available(old, min_ready, now):
                    (allowed.append(node_name) if should_run else to_delete.append(old))
                elif not should_run:
                    should_not_run.append(old)
                elif surging < surge:
                    candidates.append(node_name)
            elif not is_pod_available(new, min_ready, now):
                surging += 1
            else:
                to_delete.append(old)
        # Pods on nodes that no longer qualify go only while enough pods elsewhere are available.
        deletable = max(0, min(available - desired, len(should_not_run)))
        to_delete += should_not_run[:deletable]
        room = max(0, min(surge - surging, len(candidates)))
        return to_delete, allowed + candidates[:room]

    # --- history ---

    async def _construct_history(self, ds: dict) -> tuple[dict, list[dict]]:
        """The current revision (created or renumbered as needed) and the old ones (constructHistory)."""
        histories = self.history.owned(ds)
        current = [h for h in histories if matches(h, ds)]
        old = [h for h in histories if not matches(h, ds)]
        number = max((revision_number(h) for h in old), default=0) + 1
        if not current:
            return await self._snapshot(ds, number), old
        keep = max(current, key=revision_number)
        for duplicate in current:
            if duplicate is not keep:
                await self.history.delete(duplicate)
        if revision_number(keep) < number:
            keep = await self.history.set_revision_number(keep, number)
        return keep, old

    async def _snapshot(self, ds: dict, number: int) -> dict:
        collision_count = (ds.get("status") or {}).get("collisionCount")
        hash_ = compute_hash(ds["spec"].get("template") or {}, collision_count)
        labels = dict(((ds["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {})
        labels[REVISION_HASH_LABEL] = hash_
        revision = new_revision(ds, number, labels=labels, annotations=ds["metadata"].get("annotations"))
        revision["metadata"]["name"] = revision_name(ds["metadata"]["name"], hash_)
        created = await self.history.create(revision)
        if created is not None:
            return created
        # A different template hashed to the same name: bump collisionCount so the next hash differs.
        fresh = await self.client.get(DAEMONSETS, ds["metadata"]["name"], ds["metadata"]["namespace"])
        if (fresh.get("status") or {}).get("collisionCount") == collision_count:
            fresh.setdefault("status", {})["collisionCount"] = (collision_count or 0) + 1
            await self.client.update(DAEMONSETS, fresh, subresource="status")
        raise APIError(409, "Conflict", f"hash collision for DaemonSet {ds['metadata']['name']}; retrying")

    async def _cleanup_history(self, ds: dict, old: list[dict]) -> None:
        """Delete the oldest revisions beyond revisionHistoryLimit that no pod still uses."""
        limit = ds["spec"].get("revisionHistoryLimit", 10)
        excess = len(old) - limit
        if excess <= 0:
            return
        live = {p["metadata"].get("labels", {}).get(REVISION_HASH_LABEL)
                for pods in self._nodes_to_pods(ds, include_deleted_terminal=True).values() for p in pods}
        for revision in sorted(old, key=revision_number):
            if excess <= 0:
                break
            if revision["metadata"].get("labels", {}).get(REVISION_HASH_LABEL) in live:
                continue
            await self.history.delete(revision)
            excess -= 1

    # --- status ---

    def _status(self, ds: dict, nodes: list[dict], hash_: str) -> dict:
        by_node = self._nodes_to_pods(ds)
        min_ready, now = ds["spec"].get("minReadySeconds", 0), self.clock.now()
        generation = template_generation(ds)
        counts = dict.fromkeys(("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled",
                                "numberReady", "updatedNumberScheduled", "numberAvailable"), 0)
        for node in nodes:
            should_run, _ = node_should_run(node, ds)
            pods = by_node.get(node["metadata"]["name"]) or []
            if not should_run:
                counts["numberMisscheduled"] += bool(pods)
                continue
            counts["desiredNumberScheduled"] += 1
            if not pods:
                continue
            counts["currentNumberScheduled"] += 1
            pod = by_age(pods)[0]
            if is_pod_ready(pod):
                counts["numberReady"] += 1
                counts["numberAvailable"] += is_pod_available(pod, min_ready, now)
            counts["updatedNumberScheduled"] += is_pod_updated(pod, hash_, generation)
        counts["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
        return counts

    async def _update_status(self, ds: dict, nodes: list[dict], hash_: str, *, observed: bool) -> None:
        counts = self._status(ds, nodes, hash_)
        if observed:
            counts["observedGeneration"] = ds["metadata"].get("generation", 0)
        status = ds.setdefault("status", {})
        wanted = _with_counts(status, counts)
        if wanted != status:
            ds["status"] = wanted
            try:
                await self.client.update(DAEMONSETS, ds, subresource="status")
            except APIError as exc:
                if exc.code != 409:
                    raise
                # Someone else wrote the status (e.g. a collisionCount bump): put our counters on theirs.
                fresh = await self.client.get(DAEMONSETS, ds["metadata"]["name"], ds["metadata"]["namespace"])
                fresh["status"] = _with_counts(fresh.get("status") or {}, counts)
                await self.client.update(DAEMONSETS, fresh, subresource="status")
        if min_ready := ds["spec"].get("minReadySeconds", 0):
            if counts["numberReady"] != counts["numberAvailable"]:
                self.enqueue_after(ds, min_ready)  # availability changes with time alone


def _with_counts(status: dict, counts: dict) -> dict:
    result = {**status, **counts}
    for optional in ("numberAvailable", "numberUnavailable", "updatedNumberScheduled", "observedGeneration"):
        if not result.get(optional):
            result.pop(optional, None)  # omitempty, as Kubernetes serializes them
    return result
