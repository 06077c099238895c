"""Backup, verify and restore of directory trees to object storage (S3 or a local directory).

Knows nothing of astronomy: it moves files. See docs/transfer.md.
"""

from hippo.transfer.backends import Backend, LocalBackend, ObjectInfo, S3Backend, TransferError, open_backend
from hippo.transfer.backup import backup
from hippo.transfer.restore import list_backups, restore
from hippo.transfer.verify import verify

__all__ = ["backup", "verify", "restore", "list_backups", "open_backend", "Backend", "LocalBackend", "S3Backend",
           "ObjectInfo", "TransferError"]
