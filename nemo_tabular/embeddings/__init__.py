"""Row embeddings from the trained GPT in a Milvus collection: search by example and a privacy audit."""

from .audit import privacy_audit
from .embedder import RowEmbedder
from .store import RowVectorStore, VectorStoreError, connect

__all__ = ["RowEmbedder", "RowVectorStore", "VectorStoreError", "connect", "privacy_audit"]
