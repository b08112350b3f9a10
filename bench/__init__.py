"""`make bench`: measured speed against references run on the same machine; the shared
subprocess stack (`bench.stack`) that the fault suite uses too."""
