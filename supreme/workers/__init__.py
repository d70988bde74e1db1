"""The Ray worker layer: thin actors over the pure classes of :mod:`supreme.core`.

- :class:`SymbolShard` (``shard-<i>``): history and strategy instances of the symbols it owns
  (:class:`supreme.core.shard.ShardCore`);
- :class:`RiskActor` (``risk``, one): every order decision, positions and PnL
  (:class:`supreme.core.desk.RiskDesk`), checkpointed to ``state_dir/risk.sqlite``;
- :class:`ExecutionActor` (``execution-<venue>``): order state machine, journal and broker
  (:class:`supreme.core.execution.ExecutionEngine`), journaled to
  ``state_dir/execution-<venue>.sqlite``;
- :class:`Cluster` starts Ray and creates (or finds) them; :func:`shard_for_symbol` is the
  stable symbol-to-shard partition.
"""

from supreme.workers.cluster import Cluster, ClusterConfig, shard_for_symbol, start_ray
from supreme.workers.execution import ExecutionActor
from supreme.workers.risk import RiskActor
from supreme.workers.shard import SymbolShard, as_batch

__all__ = [
    "Cluster",
    "ClusterConfig",
    "ExecutionActor",
    "RiskActor",
    "SymbolShard",
    "as_batch",
    "shard_for_symbol",
    "start_ray",
]
