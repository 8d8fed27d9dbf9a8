"""Hash-chained, append-only audit log: `record()` in the caller's transaction, `verify()` to check it."""

from core.audit.chain import (
    AuditPolicy,
    VerifyReport,
    append,
    canonical_json,
    chain_hash,
    chain_pending,
    checkpoint_now,
    entry,
    record,
    verify,
)
from core.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from core.audit.signing import CheckpointSigner

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "AuditPolicy",
    "CheckpointSigner",
    "VerifyReport",
    "append",
    "canonical_json",
    "chain_hash",
    "chain_pending",
    "checkpoint_now",
    "entry",
    "record",
    "verify",
]
