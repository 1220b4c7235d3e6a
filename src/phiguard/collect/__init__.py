"""Live collection: Cloud Asset Inventory, Resource Manager and Admin SDK Directory into a
snapshot directory the scanner reads. The only network code in phiguard; the Google client
libraries are imported inside these modules' functions, never at `phiguard --help`."""

from phiguard.collect.collector import CollectOptions, collect
from phiguard.collect.retry import RetryPolicy

__all__ = ["CollectOptions", "RetryPolicy", "collect"]
