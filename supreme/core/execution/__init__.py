"""Order execution: the state machine, the broker protocol, the paper venue, the durable
journal and the engine that ties them together."""

from supreme.core.execution.broker import Broker, ExecutionReport, ReportHandler
from supreme.core.execution.engine import ExecutionEngine
from supreme.core.execution.journal import JournalState, OrderEvent, OrderJournal
from supreme.core.execution.paper import PaperBroker, PaperBrokerConfig
from supreme.core.execution.state import (
    LEGAL_TRANSITIONS,
    apply_fill,
    can_transition,
    transition,
)

__all__ = [
    "LEGAL_TRANSITIONS",
    "Broker",
    "ExecutionEngine",
    "ExecutionReport",
    "JournalState",
    "OrderEvent",
    "OrderJournal",
    "PaperBroker",
    "PaperBrokerConfig",
    "ReportHandler",
    "apply_fill",
    "can_transition",
    "transition",
]
