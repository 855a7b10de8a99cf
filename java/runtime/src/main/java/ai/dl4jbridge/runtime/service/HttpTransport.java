package ai.dl4jbridge.runtime.service;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * HTTP/1.1 on Netty: non-blocking I/O (a slow or silent client holds no thread), bounded everything.
 * Per connection: a request must arrive whole within --request-timeout of its first byte (else 408 and
 * close), an idle kept-alive connection closes after --idle-timeout, the request line, the headers (size
 * and count) and the body are capped (414, 431, 413 with Connection: close), malformed framing (broken
 * chunked encoding, bad Content-Length) gets 400 and close. One request at a time per connection (reads
 * pause while it is handled), so answers keep the order of pipelined requests. Connections beyond
 * --max-connections are closed at once. Refusals that leave part of a body unread close gracefully:
 * answer, half-close, drain what the client still sends for a moment, then close, so the client reads
 * the answer instead of a reset.
 */
final class HttpTransport implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(HttpTransport.class.getName());
    private static final long LINGER_MILLIS = 2000;
    /** At most one line a minute about clients that close mid-request (each is counted in /metrics). */
    private static final QuietLog CLOSED_MID_REQUEST = new QuietLog(LOG, 60_000);

    private final Router router;
    private final Metrics metrics;
    private final ServiceOptions options;
    private final ExecutorService workers;
    private final EventLoopGroup boss;
    private final EventLoopGroup io;
    private final ChannelGroup channels = new DefaultChannelGroup("dl4jbridge-http", GlobalEventExecutor.INSTANCE);
    private final AtomicInteger open = new AtomicInteger();
    private final BodyBudget bodies;
    private final Channel server;

    HttpTransport(Router router, ServiceOptions options, ExecutorService workers) {
        this.router = router;
        this.metrics = router.metrics();
        this.options = options;
        this.workers = workers;
        this.bodies = new BodyBudget(BodyBudget.limitFor(options.bodyMemory, options.maxBody));
        boolean epoll = Epoll.isAvailable();
        IoHandlerFactory handlers = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        Class<? extends ServerChannel> channel = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        boss = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("dl4jbridge-accept", true), handlers);
        io = new MultiThreadIoEventLoopGroup(
                options.ioThreads, new DefaultThreadFactory("dl4jbridge-io", true), handlers);
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(boss, io)
                .channel(channel)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        configure(ch);
                    }
                });
        try {
            server = bootstrap
                    .bind(new InetSocketAddress(options.host, options.port))
                    .syncUninterruptibly()
                    .channel();
        } catch (Exception e) { // Netty rethrows the bind's IOException unchecked
            shutdownGroups(0);
            throw new IllegalArgumentException(
                    "cannot listen on " + options.host + ":" + options.port + ": " + e.getMessage(), e);
        }
    }

    int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    String host() {
        return ((InetSocketAddress) server.localAddress()).getHostString();
    }

    /** Per-connection state, shared by the handlers of one channel (all on its event loop). */
    private static final class Connection {
        ScheduledFuture<?> requestTimer;
        boolean busy;
        boolean closing;
        /** More requests were pipelined than are queued: the rest are dropped, the queue ends with a 429. */
        boolean overflowing;
        /** Body bytes reserved from the budget, one entry per request not yet answered, oldest first. */
        final java.util.ArrayDeque<Long> reservations = new java.util.ArrayDeque<>();
        /** Pipelined requests decoded while one is being answered: handled in order, one at a time. */
        final java.util.ArrayDeque<Runnable> waiting = new java.util.ArrayDeque<>();
    }

    private void configure(SocketChannel ch) {
        if (open.incrementAndGet() > options.maxConnections) {
            open.decrementAndGet();
            metrics.refusedConnection();
            ch.config().setOption(ChannelOption.SO_LINGER, 0);
            ch.close();
            return;
        }
        metrics.connections(1);
        ch.closeFuture().addListener(f -> {
            open.decrementAndGet();
            metrics.connections(-1);
        });
        channels.add(ch);
        Connection state = new Connection();
        ChannelPipeline p = ch.pipeline();
        p.addLast("idle", new IdleStateHandler(0, 0, options.idleTimeoutSeconds, TimeUnit.SECONDS));
        p.addLast("first-byte", new FirstByte(state));
        p.addLast(
                "codec",
                new HttpServerCodec(new HttpDecoderConfig()
                        .setMaxInitialLineLength(options.maxUri)
                        .setMaxHeaderSize(options.maxHeaderSize)
                        .setMaxChunkSize(64 * 1024)));
        p.addLast("guard", new Guard(state));
        p.addLast("aggregate", new Aggregator(state));
        p.addLast("dispatch", new Dispatch(state));
    }

    /** Raw bytes: starts the request timer at a request's first byte; drops input while closing. */
    private final class FirstByte extends ChannelInboundHandlerAdapter {
        private final Connection state;

        FirstByte(Connection state) {
            this.state = state;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (state.closing) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (state.requestTimer == null && !state.busy && msg instanceof ByteBuf && ((ByteBuf) msg).isReadable()) {
                state.requestTimer = ctx.executor()
                        .schedule(
                                () -> {
                                    state.requestTimer = null;
                                    if (!state.busy && !state.closing) {
                                        refuse(
                                                ctx,
                                                state,
                                                408,
                                                "request_timeout",
                                                "the request did not arrive whole within "
                                                        + options.requestTimeoutSeconds
                                                        + " s (--request-timeout): a Content-Length longer than"
                                                        + " the body, or a client that stopped sending");
                                    }
                                },
                                options.requestTimeoutSeconds,
                                TimeUnit.SECONDS);
            }
            ctx.fireChannelRead(msg);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent) {
                if (!state.busy) {
                    ctx.close();
                }
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            cancelTimer(state);
            releaseAll(state);
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (!(cause instanceof IOException)) { // resets and broken pipes are the client's business
                LOG.log(Level.FINE, "connection error", cause);
            }
            ctx.close();
        }
    }

    /** Reserves the body `request` declares (chunked: --max-body); false when it does not fit the budget. */
    private boolean reserveBody(HttpRequest request, Connection state) {
        long declared =
                HttpUtil.isTransferEncodingChunked(request) ? options.maxBody : HttpUtil.getContentLength(request, 0L);
        long bytes = Math.min(Math.max(declared, 0L), options.maxBody); // larger ones get 413 from the aggregator
        if (!bodies.tryReserve(bytes)) {
            return false;
        }
        state.reservations.add(bytes);
        return true;
    }

    private void releaseOne(Connection state) {
        Long bytes = state.reservations.poll();
        if (bytes != null) {
            bodies.release(bytes);
        }
    }

    private void releaseAll(Connection state) {
        while (!state.reservations.isEmpty()) {
            releaseOne(state);
        }
    }

    private static void cancelTimer(Connection state) {
        if (state.requestTimer != null) {
            state.requestTimer.cancel(false);
            state.requestTimer = null;
        }
    }

    /** Decoded request parts: framing errors and header limits, before any body is buffered. */
    private final class Guard extends ChannelInboundHandlerAdapter {
        private final Connection state;

        Guard(Connection state) {
            this.state = state;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (state.closing) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (msg instanceof HttpRequest) {
                HttpRequest request = (HttpRequest) msg;
                DecoderResult result = request.decoderResult();
                String problem = null;
                int status = 400;
                if (result.isFailure()) {
                    Throwable cause = result.cause();
                    if (cause instanceof TooLongHttpLineException) {
                        status = 414;
                        problem = "the request line is longer than " + options.maxUri + " bytes (--max-uri)";
                    } else if (cause instanceof TooLongHttpHeaderException) {
                        status = 431;
                        problem = "the request headers are larger than " + options.maxHeaderSize
                                + " bytes (--max-header-size)";
                    } else {
                        problem = "malformed HTTP request: "
                                + (cause instanceof TooLongFrameException
                                        ? "too long"
                                        : String.valueOf(cause.getMessage()));
                    }
                } else if (request.headers().size() > options.maxHeaders) {
                    status = 431;
                    problem = "the request has " + request.headers().size() + " headers, more than "
                            + options.maxHeaders + " (--max-headers)";
                } else if (request.headers().contains(HttpHeaderNames.TRANSFER_ENCODING)
                        && request.headers().contains(HttpHeaderNames.CONTENT_LENGTH)) {
                    problem = "a request may not carry both Transfer-Encoding and Content-Length";
                } else if (request.headers().contains(HttpHeaderNames.TRANSFER_ENCODING)
                        && !HttpUtil.isTransferEncodingChunked(request)) {
                    status = 501;
                    problem = "Transfer-Encoding " + request.headers().get(HttpHeaderNames.TRANSFER_ENCODING)
                            + " is not supported; send a Content-Length or chunked";
                }
                if (problem != null) {
                    ReferenceCountUtil.release(msg);
                    refuse(ctx, state, status, "bad_request", problem);
                    return;
                }
                if (!reserveBody(request, state)) {
                    ReferenceCountUtil.release(msg);
                    metrics.rejected();
                    refuse(
                            ctx,
                            state,
                            503,
                            "memory_budget",
                            "the service holds as many request bodies as its memory allows (--body-memory "
                                    + bodies.limit() + " bytes); retry shortly");
                    return;
                }
            } else if (msg instanceof HttpContent
                    && ((HttpContent) msg).decoderResult().isFailure()) {
                Throwable cause = ((HttpContent) msg).decoderResult().cause();
                ReferenceCountUtil.release(msg);
                refuse(
                        ctx,
                        state,
                        400,
                        "bad_request",
                        "malformed request body framing (chunked encoding or Content-Length): " + cause.getMessage());
                return;
            }
            if (msg instanceof LastHttpContent) {
                cancelTimer(state);
            }
            ctx.fireChannelRead(msg);
        }
    }

    /** The body, whole, up to --max-body; larger is refused with 413 from Content-Length or as it grows. */
    private final class Aggregator extends HttpObjectAggregator {
        private final Connection state;

        Aggregator(Connection state) {
            super((int) options.maxBody, true);
            this.state = state;
        }

        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
            refuse(
                    ctx,
                    state,
                    413,
                    "body_too_large",
                    "request body is larger than " + options.maxBody + " bytes (--max-body); split the batch");
        }
    }

    /** A whole request: handed to a worker; its answer written back when the router completes it. */
    private final class Dispatch extends ChannelInboundHandlerAdapter {
        private final Connection state;

        Dispatch(Connection state) {
            this.state = state;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof FullHttpRequest)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            FullHttpRequest full = (FullHttpRequest) msg;
            if (state.closing || state.overflowing) {
                full.release();
                return;
            }
            if (full.decoderResult().isFailure()) {
                full.release();
                refuse(
                        ctx,
                        state,
                        400,
                        "bad_request",
                        "malformed request: " + full.decoderResult().cause().getMessage());
                return;
            }
            boolean keepAlive = HttpUtil.isKeepAlive(full);
            Request request;
            try {
                request = new Request(
                        full.method().name(), full.uri(), full.headers()::get, ByteBufUtil.getBytes(full.content()));
            } finally {
                full.release();
            }
            Runnable handle = () -> handle(ctx, state, request, keepAlive);
            if (state.busy) {
                if (state.waiting.size() >= MAX_PIPELINED) {
                    // Answered in its place, after the queued ones, then the connection closes: what the client
                    // pipelined beyond it is never read (its answers would otherwise come out of order).
                    state.overflowing = true;
                    state.waiting.add(() -> refuse(
                            ctx,
                            state,
                            429,
                            "too_many_pipelined",
                            "more than " + MAX_PIPELINED
                                    + " pipelined requests on one connection; wait for the answers"));
                    return;
                }
                state.waiting.add(handle);
                return;
            }
            handle.run();
        }

        /**
         * The end of the pipeline: what the codec or the aggregator raise lands here. A client that closes
         * mid-request (PrematureChannelClosureException) is counted and logged once a minute at most; anything
         * else is logged once with its cause. Netty's default would print a 27-line warning each time.
         */
        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof PrematureChannelClosureException || cause instanceof IOException) {
                metrics.closedMidRequest();
                CLOSED_MID_REQUEST.event(n -> n + " connection(s) closed by the client before the request had"
                        + " arrived whole (dl4jbridge_connections_closed_mid_request_total in /metrics)");
            } else {
                LOG.log(Level.WARNING, "connection error: " + cause, cause);
            }
            ctx.close();
        }
    }

    private static final int MAX_PIPELINED = 16;

    /** Hands one whole request to the router (inline or on a worker); reads pause until it is answered. */
    private void handle(ChannelHandlerContext ctx, Connection state, Request request, boolean keepAlive) {
        {
            state.busy = true;
            ctx.channel().config().setAutoRead(false);
            metrics.inFlight(1);
            if (router.handleInline(request)) {
                // answered on the connection's event loop: the batch runner that completes the reply goes
                // straight back to running batches instead of encoding and writing 32 answers
                router.handle(request)
                        .thenAcceptAsync(reply -> answer(ctx, state, request, reply, keepAlive), ctx.executor());
                return;
            }
            try {
                workers.execute(() ->
                        router.handle(request).thenAccept(reply -> answer(ctx, state, request, reply, keepAlive)));
            } catch (RejectedExecutionException e) {
                metrics.rejected();
                metrics.error("overloaded");
                Reply reply = Reply.error(
                                503, "the service is at capacity (all workers busy, queue full); retry shortly")
                        .header("Retry-After", "1");
                answer(ctx, state, request, reply, keepAlive);
            }
        }
    }

    private void answer(ChannelHandlerContext ctx, Connection state, Request request, Reply reply, boolean keepAlive) {
        boolean close = reply.close || !keepAlive;
        if (!ctx.channel().isActive()) {
            metrics.inFlight(-1);
            metrics.request(reply.route, request.method, 499);
            metrics.abort();
            return;
        }
        // Counted before the answer leaves, so that a client that reads /metrics next sees it; a failed
        // write counts as an abort as well (never as a second status).
        metrics.request(reply.route, request.method, reply.status);
        FullHttpResponse response = response(reply, close, request.isHead());
        ctx.writeAndFlush(response).addListener((ChannelFutureListener) f -> {
            releaseOne(state); // on the event loop, as every use of the connection's state
            metrics.inFlight(-1);
            if (!f.isSuccess()) {
                metrics.abort();
                f.channel().close();
                return;
            }
            if (close) {
                f.channel().close();
                return;
            }
            state.busy = false;
            Runnable next = state.waiting.poll();
            if (next != null) {
                next.run(); // the next pipelined request, in order
            } else {
                f.channel().config().setAutoRead(true);
            }
        });
    }

    private static FullHttpResponse response(Reply reply, boolean close) {
        return response(reply, close, false);
    }

    /** The answer; for HEAD the same headers (Content-Length of the body GET would get) and no body. */
    private static FullHttpResponse response(Reply reply, boolean close, boolean head) {
        FullHttpResponse response = new DefaultFullHttpResponse(
                HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(reply.status),
                head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(reply.body));
        String type = Reply.JSON.equals(reply.contentType) ? Reply.JSON + "; charset=utf-8" : reply.contentType;
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, type);
        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, reply.body.length);
        for (Map.Entry<String, String> h : reply.headers.entrySet()) {
            response.headers().set(h.getKey(), h.getValue());
        }
        if (close) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        return response;
    }

    /**
     * Answers {@code status} with Connection: close, then closes gracefully: half-close, drop what the
     * client still sends for up to {@link #LINGER_MILLIS}, close. Runs on the channel's event loop.
     */
    private void refuse(ChannelHandlerContext ctx, Connection state, int status, String kind, String message) {
        if (state.closing) {
            return;
        }
        state.closing = true;
        cancelTimer(state);
        metrics.error(kind);
        metrics.request("other", "other", status);
        Channel ch = ctx.channel();
        ch.config().setAutoRead(true);
        Reply reply = Reply.error(status, message);
        if (status == 503) {
            reply.header("Retry-After", "1");
        }
        ch.writeAndFlush(response(reply, true)).addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess() || !(ch instanceof SocketChannel)) {
                ch.close();
                return;
            }
            ((SocketChannel) ch).shutdownOutput().addListener(done -> ch.eventLoop()
                    .schedule(() -> ch.close(), LINGER_MILLIS, TimeUnit.MILLISECONDS));
        });
    }

    /** The line printed at start: the body budget against the connection and body limits. */
    String memoryLine() {
        return bodies.describe(options.maxConnections, options.maxBody);
    }

    /** Body bytes reserved now (tests, /metrics). */
    long bodyBytesReserved() {
        return bodies.reserved();
    }

    /** Requests being handled now. */
    long inFlight() {
        return metrics.inFlight();
    }

    /** Stops accepting; connections stay open (answers in flight go out) until {@link #close()}. */
    void stopAccepting() {
        server.close().syncUninterruptibly();
    }

    @Override
    public void close() {
        server.close().syncUninterruptibly();
        channels.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        shutdownGroups(2);
    }

    private void shutdownGroups(int seconds) {
        boss.shutdownGracefully(0, seconds, TimeUnit.SECONDS);
        io.shutdownGracefully(0, seconds, TimeUnit.SECONDS).awaitUninterruptibly(seconds + 1L, TimeUnit.SECONDS);
    }
}
