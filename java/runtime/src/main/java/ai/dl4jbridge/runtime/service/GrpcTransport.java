package ai.dl4jbridge.runtime.service;

import java.util.concurrent.ExecutorService;

/** Placeholder until the gRPC service lands in this branch: refuses --grpc-port by name. */
final class GrpcTransport implements AutoCloseable {
    GrpcTransport(Router router, ServiceOptions options, ExecutorService workers) {
        throw new IllegalArgumentException("--grpc-port: gRPC is not built into this service yet");
    }

    int port() {
        return -1;
    }

    void stopAccepting() {
    }

    @Override
    public void close() {
    }
}
