"""The scheduler: binds unscheduled pods to nodes, as kube-scheduler's default profile does.

Role in the flow: storage → registry → API → clients → controllers/scheduler. The scheduler is a client
of the API: informers feed pods and nodes into the incremental `nodeinfo.Cache` and unscheduled pods into
the `queue.SchedulingQueue`; each cycle pops one pod, takes `Cache.snapshot()`, runs
`framework.schedule()` (PreFilter → Filter with node sampling → Score → NormalizeScore → select), assumes
the pod on the chosen node in the cache and binds it through the API; a failure parks the pod in the
queue with the exact "0/N nodes are available: ..." message kube-scheduler writes.

The modules here are pure code (no I/O, no asyncio): `nodeinfo` (cache and snapshots), `plugins` (the
default profile's filter and score functions), `framework` (one scheduling cycle) and `queue` (active,
backoff and unschedulable pods). The loop that drives them lives elsewhere.
"""
