"""The OCI distribution API spoken directly, with no engine: references, credentials and
trust as the engine would use them, a registry client, pushes and reads.

Image building (with no engine) and sharing both use it; it imports no ``docker``.
"""

from .blobs import Blob, BlobReader
from .client import RegistryClient
from .credentials import credentials
from .manifest import OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST
from .push import PushStats, image_manifest, push_image
from .pushed import remember_pushed, repositories_holding
from .read import read_image
from .reference import check_reference, host_of, split_target
from .trust import CERTS_D_ENV, INSECURE_ENV, is_insecure

__all__ = [
    "CERTS_D_ENV", "INSECURE_ENV", "OCI_CONFIG", "OCI_LAYER", "OCI_LAYER_GZIP", "OCI_MANIFEST",
    "Blob", "BlobReader", "PushStats", "RegistryClient", "check_reference", "credentials",
    "host_of", "image_manifest", "is_insecure", "push_image", "read_image", "remember_pushed",
    "repositories_holding", "split_target",
]
