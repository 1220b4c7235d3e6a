"""Live collection: Cloud Asset Inventory, Resource Manager and Admin SDK Directory into a
snapshot directory the scanner reads (`phiguard.collect.collector.collect`). The only network
code in phiguard. This package imports nothing, and the Google client libraries are imported
only inside the functions that call them, so `phiguard --help` loads none of it."""
