"""Generated protobuf and gRPC code for the supreme.v1 API. Do not edit: run
``make proto`` (scripts/gen_proto.py). Only supreme.server and supreme.client import this."""
