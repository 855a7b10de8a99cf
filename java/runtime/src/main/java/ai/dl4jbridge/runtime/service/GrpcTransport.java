package ai.dl4jbridge.runtime.service;

import ai.dl4jbridge.runtime.InvalidInputException;
import ai.dl4jbridge.runtime.service.grpc.GRPCInferenceServiceGrpc;
import ai.dl4jbridge.runtime.service.grpc.ModelInferRequest;
import ai.dl4jbridge.runtime.service.grpc.ModelInferResponse;
import ai.dl4jbridge.runtime.service.grpc.ModelMetadataRequest;
import ai.dl4jbridge.runtime.service.grpc.ModelMetadataResponse;
import ai.dl4jbridge.runtime.service.grpc.ModelReadyRequest;
import ai.dl4jbridge.runtime.service.grpc.ModelReadyResponse;
import ai.dl4jbridge.runtime.service.grpc.RepositoryIndexRequest;
import ai.dl4jbridge.runtime.service.grpc.RepositoryIndexResponse;
import ai.dl4jbridge.runtime.service.grpc.ServerLiveRequest;
import ai.dl4jbridge.runtime.service.grpc.ServerLiveResponse;
import ai.dl4jbridge.runtime.service.grpc.ServerMetadataRequest;
import ai.dl4jbridge.runtime.service.grpc.ServerMetadataResponse;
import ai.dl4jbridge.runtime.service.grpc.ServerReadyRequest;
import ai.dl4jbridge.runtime.service.grpc.ServerReadyResponse;
import com.google.protobuf.ByteString;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The Open Inference Protocol v2 over gRPC (GRPCInferenceService): liveness, readiness, server and model
 * metadata, the repository index and ModelInfer (tensors as raw_input_contents or typed fp32_contents;
 * answers in raw_output_contents, as Triton does). Same models, checks, batcher and metrics as HTTP.
 */
final class GrpcTransport implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(GrpcTransport.class.getName());
    private final Server server;

    GrpcTransport(Router router, ServiceOptions options, ExecutorService workers) {
        server = NettyServerBuilder.forAddress(new InetSocketAddress(options.host, options.grpcPort))
                .executor(workers)
                .maxInboundMessageSize((int) Math.min(Integer.MAX_VALUE, options.maxBody))
                .maxInboundMetadataSize(options.maxHeaderSize)
                .maxConnectionIdle(options.idleTimeoutSeconds, TimeUnit.SECONDS)
                .handshakeTimeout(options.requestTimeoutSeconds, TimeUnit.SECONDS)
                .addService(new Service(router))
                .build();
        try {
            server.start();
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "cannot listen for gRPC on " + options.host + ":" + options.grpcPort + ": " + e.getMessage(), e);
        }
    }

    int port() {
        return server.getPort();
    }

    void stopAccepting() {
        server.shutdown();
    }

    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(2, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    private static final class Service extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {
        private final Router router;

        Service(Router router) {
            this.router = router;
        }

        private <T> void answer(String method, StreamObserver<T> observer, Supplier<T> body) {
            T value;
            try {
                value = body.get();
            } catch (RuntimeException e) {
                fail(method, observer, e);
                return;
            }
            router.metrics().request("grpc:" + method, "POST", 200);
            observer.onNext(value);
            observer.onCompleted();
        }

        private void fail(String method, StreamObserver<?> observer, Throwable failure) {
            Throwable e =
                    failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
            Status status;
            int code;
            if (e instanceof HttpError) {
                HttpError h = (HttpError) e;
                router.metrics().error(h.kind);
                code = h.status;
                status = (h.status == 404
                                ? Status.NOT_FOUND
                                : h.status == 503
                                        ? Status.UNAVAILABLE
                                        : h.status == 413 ? Status.RESOURCE_EXHAUSTED : Status.INVALID_ARGUMENT)
                        .withDescription(h.getMessage());
            } else if (e instanceof InvalidInputException) {
                router.metrics().error("invalid_input");
                code = 400;
                status = Status.INVALID_ARGUMENT.withDescription(e.getMessage());
            } else {
                router.metrics().error("internal");
                LOG.log(Level.WARNING, "gRPC " + method + " failed", e);
                code = 500;
                status = Status.INTERNAL.withDescription(
                        "internal error (" + e.getClass().getSimpleName() + "); see the service log");
            }
            router.metrics().request("grpc:" + method, "POST", code);
            observer.onError(status.asRuntimeException());
        }

        @Override
        public void serverLive(ServerLiveRequest request, StreamObserver<ServerLiveResponse> observer) {
            answer("ServerLive", observer, () -> ServerLiveResponse.newBuilder()
                    .setLive(true)
                    .build());
        }

        @Override
        public void serverReady(ServerReadyRequest request, StreamObserver<ServerReadyResponse> observer) {
            answer("ServerReady", observer, () -> ServerReadyResponse.newBuilder()
                    .setReady(!router.isStopping())
                    .build());
        }

        @Override
        public void modelReady(ModelReadyRequest request, StreamObserver<ModelReadyResponse> observer) {
            answer("ModelReady", observer, () -> {
                ServedModel m = router.models().get(request.getName());
                boolean ready = m != null
                        && !router.isStopping()
                        && (request.getVersion().isEmpty()
                                || request.getVersion().equals(m.version));
                return ModelReadyResponse.newBuilder().setReady(ready).build();
            });
        }

        @Override
        public void serverMetadata(ServerMetadataRequest request, StreamObserver<ServerMetadataResponse> observer) {
            answer("ServerMetadata", observer, () -> ServerMetadataResponse.newBuilder()
                    .setName(OpenInference.SERVER)
                    .setVersion(ServiceOptions.VERSION)
                    .addExtensions("model_repository")
                    .build());
        }

        @Override
        public void modelMetadata(ModelMetadataRequest request, StreamObserver<ModelMetadataResponse> observer) {
            answer("ModelMetadata", observer, () -> {
                ServedModel m = router.model(request.getName(), request.getVersion());
                return ModelMetadataResponse.newBuilder()
                        .setName(m.name)
                        .addVersions(m.version)
                        .setPlatform("onnxruntime_onnx")
                        .addInputs(tensor(m.info.inputName(), m.info.inputShape()))
                        .addOutputs(tensor(m.info.outputName(), m.info.outputShape()))
                        .build();
            });
        }

        private static ModelMetadataResponse.TensorMetadata tensor(String name, long[] shape) {
            ModelMetadataResponse.TensorMetadata.Builder t = ModelMetadataResponse.TensorMetadata.newBuilder()
                    .setName(name)
                    .setDatatype("FP32");
            Arrays.stream(shape).forEach(t::addShape);
            return t.build();
        }

        @Override
        public void repositoryIndex(RepositoryIndexRequest request, StreamObserver<RepositoryIndexResponse> observer) {
            answer("RepositoryIndex", observer, () -> {
                RepositoryIndexResponse.Builder r = RepositoryIndexResponse.newBuilder();
                for (ServedModel m : router.models().values()) {
                    r.addModels(RepositoryIndexResponse.ModelIndex.newBuilder()
                            .setName(m.name)
                            .setVersion(m.version)
                            .setState("READY"));
                }
                return r.build();
            });
        }

        @Override
        public void modelInfer(ModelInferRequest request, StreamObserver<ModelInferResponse> observer) {
            ServedModel m;
            float[] rows;
            int n;
            try {
                m = router.model(request.getModelName(), request.getModelVersion());
                if (request.getInputsCount() != 1) {
                    throw JsonCodec.bad("a request must carry exactly one input tensor: this model's input '"
                            + m.info.inputName() + "'");
                }
                ModelInferRequest.InferInputTensor input = request.getInputs(0);
                long[] shape =
                        input.getShapeList().stream().mapToLong(Long::longValue).toArray();
                n = OpenInference.checkInput(m, input.getName(), input.getDatatype(), shape, router.maxRows());
                int count = n * m.info.inputSize();
                rows = new float[count];
                if (request.getRawInputContentsCount() > 1) {
                    throw JsonCodec.bad("the request carries " + request.getRawInputContentsCount()
                            + " raw_input_contents for its one input '" + input.getName() + "'; send one");
                }
                if (request.getRawInputContentsCount() == 1 && input.hasContents()) {
                    throw JsonCodec.bad("input '" + input.getName() + "' has both raw_input_contents and typed"
                            + " contents; send its values one way");
                }
                if (request.getRawInputContentsCount() > 0) {
                    ByteString raw = request.getRawInputContents(0);
                    if (raw.size() != count * Float.BYTES) {
                        throw JsonCodec.bad("input '" + input.getName() + "' has " + raw.size() + " raw bytes; shape "
                                + Arrays.toString(shape) + " of FP32 needs " + count * Float.BYTES);
                    }
                    raw.asReadOnlyByteBuffer()
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .asFloatBuffer()
                            .get(rows);
                } else {
                    if (input.getContents().getFp32ContentsCount() != count) {
                        throw JsonCodec.bad("input '" + input.getName() + "' has "
                                + input.getContents().getFp32ContentsCount() + " fp32_contents; shape "
                                + Arrays.toString(shape) + " needs " + count);
                    }
                    for (int i = 0; i < count; i++) {
                        rows[i] = input.getContents().getFp32Contents(i);
                    }
                }
                for (ModelInferRequest.InferRequestedOutputTensor out : request.getOutputsList()) {
                    if (!out.getName().equals(m.info.outputName())) {
                        throw JsonCodec.bad("unknown output '" + out.getName() + "': model '" + m.name
                                + "' has output '" + m.info.outputName() + "'");
                    }
                }
            } catch (RuntimeException e) {
                fail("ModelInfer", observer, e);
                return;
            }
            ServedModel model = m;
            try {
                router.predict(model, rows, n).whenComplete((out, failure) -> {
                    if (failure != null) {
                        fail("ModelInfer", observer, failure);
                        return;
                    }
                    float[] values = out.flatProbabilities();
                    ByteBuffer raw =
                            ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                    raw.asFloatBuffer().put(values);
                    ModelInferResponse.InferOutputTensor.Builder tensor =
                            ModelInferResponse.InferOutputTensor.newBuilder()
                                    .setName(model.info.outputName())
                                    .setDatatype("FP32")
                                    .addShape(out.rows());
                    Arrays.stream(out.rowShape()).forEach(tensor::addShape);
                    router.metrics().request("grpc:ModelInfer", "POST", 200);
                    observer.onNext(ModelInferResponse.newBuilder()
                            .setModelName(model.name)
                            .setModelVersion(model.version)
                            .setId(request.getId())
                            .addOutputs(tensor)
                            .addRawOutputContents(ByteString.copyFrom(raw.array()))
                            .build());
                    observer.onCompleted();
                });
            } catch (RuntimeException e) {
                fail("ModelInfer", observer, e);
            }
        }
    }
}
