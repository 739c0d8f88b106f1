"""minik: Kubernetes' architecture, small enough to read, in one asyncio process."""

__version__ = "0.1.0"
