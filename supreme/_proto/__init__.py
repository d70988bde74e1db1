"""Generated protobuf and gRPC code for the supreme.v1 API. Do not edit: run
``make proto`` (scripts/gen_proto.py). Imported by supreme.server, supreme.client and the shard
data plane (supreme.workers.dataplane)."""
