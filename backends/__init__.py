"""Backend adapters: how an admitted visitor reaches the booking engine."""

from backends.admission import Admission, AdmissionCodec, verify

__all__ = ["Admission", "AdmissionCodec", "verify"]
