"""Backup, verify and restore of directory trees to object storage (S3 or a local directory).

Knows nothing of astronomy: it moves files. See docs/transfer.md.
"""

from hippo.transfer.backends import Backend, LocalBackend, ObjectInfo, S3Backend, TransferError, open_backend
from hippo.transfer.backup import backup
from hippo.transfer.restore import restore
from hippo.transfer.verify import verify

__all__ = ["backup", "verify", "restore", "open_backend", "Backend", "LocalBackend", "S3Backend",
           "ObjectInfo", "TransferError"]
