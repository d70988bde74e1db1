"""The grpc.aio gateway: servicers, proto<->domain conversion, configuration."""
