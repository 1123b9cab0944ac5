/* bench/peers/sse_ceiling.c: the cheapest HTTP backend for bench/sse
 * --backend ceiling, in place of the gateway: what the path (nginx, the
 * kernel, the subscribers' client, on this machine) allows when a backend
 * serves hello and broadcasts to 10,000 subscribers at almost no cost of
 * its own.
 *
 *   sse_ceiling -l 127.0.0.1:PORT [-t TICK_MS] [-s SPREAD_MS] [-S SLICE_MS]
 *
 * One thread, one epoll set, HTTP/1.1 kept-alive connections (nginx's
 * upstream; no pipelining, no request bodies):
 *   GET /hello          "Hello, world!\n", Content-Length
 *   GET /events/stats   {"subscribers":N}
 *   GET /events         a chunked text/event-stream that stays open
 * Every TICK_MS (default 1000) an event, "id: N", "event: tick",
 * "data: {"n":N,"sent_us":T}", the same bytes as the events example's
 * ticker, goes to every subscriber: all at once, or with -s spread over
 * SPREAD_MS in slices of one every SLICE_MS (default 2), as the example
 * paces it. A subscriber whose socket does not take an event whole is
 * closed (bench subscribers read everything). 127.0.0.1 only; stops on
 * SIGTERM. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192

struct conn {
    int fd;
    int sub;  /* index in subs, or -1 */
    size_t len;
    char buf[HEAD_MAX];
};

static struct conn** subs;
static size_t nsubs, capsubs;
static volatile sig_atomic_t stop_now;

static void on_term(int sig) {
    (void)sig;
    stop_now = 1;
}

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void drop(struct conn* c) {
    if (c->sub >= 0) {
        struct conn* last = subs[--nsubs];
        subs[c->sub] = last;
        last->sub = c->sub;
    }
    close(c->fd);
    free(c);
}

/* Sends all of it or fails: every reply here is small. */
static int send_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static const char HELLO[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, world!\n";
static const char STREAM_HEAD[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n";
static const char NOT_FOUND[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

/* One request head in c->buf[0..end): answers it. 0: keep the connection. */
static int answer(struct conn* c, size_t end) {
    const char* b = c->buf;
    if (end < 6 || memcmp(b, "GET /", 5) != 0)
        return send_all(c->fd, NOT_FOUND, sizeof NOT_FOUND - 1);
    const char* path = b + 4;
    const char* sp = memchr(path, ' ', end - 4);
    size_t plen = sp ? (size_t)(sp - path) : 0;
    if (plen == 6 && memcmp(path, "/hello", 6) == 0)
        return send_all(c->fd, HELLO, sizeof HELLO - 1);
    if (plen == 13 && memcmp(path, "/events/stats", 13) == 0) {
        char body[64], out[192];
        int bl = snprintf(body, sizeof body, "{\"subscribers\":%zu}", nsubs);
        int ol = snprintf(out, sizeof out,
                          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                          "%d\r\n\r\n%s",
                          bl, body);
        return send_all(c->fd, out, (size_t)ol);
    }
    if (plen == 7 && memcmp(path, "/events", 7) == 0) {
        if (send_all(c->fd, STREAM_HEAD, sizeof STREAM_HEAD - 1) != 0)
            return -1;
        if (nsubs == capsubs) {
            capsubs = capsubs ? capsubs * 2 : 1024;
            subs = realloc(subs, capsubs * sizeof *subs);
            if (subs == NULL)
                exit(1);
        }
        c->sub = (int)nsubs;
        subs[nsubs++] = c;
        return 0;
    }
    return send_all(c->fd, NOT_FOUND, sizeof NOT_FOUND - 1);
}

static void readable(struct conn* c) {
    for (;;) {
        if (c->len == HEAD_MAX) {
            drop(c);
            return;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, HEAD_MAX - c->len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            drop(c);
            return;
        }
        if (c->sub >= 0) {
            c->len = 0; /* a subscriber sends nothing more; ignore it */
            continue;
        }
        c->len += (size_t)n;
        char* e;
        while (c->sub < 0 && (e = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL) {
            size_t end = (size_t)(e - c->buf) + 4;
            if (answer(c, end) != 0) {
                drop(c);
                return;
            }
            memmove(c->buf, c->buf + end, c->len - end);
            c->len -= end;
        }
    }
}

int main(int argc, char** argv) {
    const char* listen_at = NULL;
    long tick_ms = 1000, spread_ms = 0, slice_ms = 2;
    int opt;
    while ((opt = getopt(argc, argv, "l:t:s:S:")) != -1) {
        switch (opt) {
            case 'l': listen_at = optarg; break;
            case 't': tick_ms = atol(optarg); break;
            case 's': spread_ms = atol(optarg); break;
            case 'S': slice_ms = atol(optarg); break;
            default: goto usage;
        }
    }
    if (listen_at == NULL || slice_ms < 1)
        goto usage;
    const char* colon = strrchr(listen_at, ':');
    if (colon == NULL)
        goto usage;
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen_at), listen_at);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 || strcmp(host, "127.0.0.1") != 0) {
        fprintf(stderr, "sse_ceiling: 127.0.0.1:PORT only\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0) {
        perror("sse_ceiling: listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

    long long n = 0;
    double next_tick = tick_ms > 0 ? mono_ms() + (double)tick_ms : -1;
    /* The event being delivered: its bytes, the subscribers it goes to
     * (the first `to` of subs at its start), how far it got. */
    char chunk[256];
    size_t chunk_len = 0, to = 0, done = 0, slices = 1, per = 0, slice_k = 0;
    double started = 0;
    struct epoll_event evs[256];
    while (!stop_now) {
        double now = mono_ms();
        if (next_tick > 0 && now >= next_tick && done == to) {
            char ev[160];
            int el = snprintf(ev, sizeof ev, "id: %lld\nevent: tick\ndata: {\"n\":%lld,\"sent_us\":%lld}\n\n",
                              n + 1, n, now_us());
            chunk_len = (size_t)snprintf(chunk, sizeof chunk, "%x\r\n%s\r\n", el, ev);
            n++;
            to = nsubs;
            done = 0;
            slices = spread_ms >= 2 * slice_ms ? (size_t)(spread_ms / slice_ms) : 1;
            if (slices > to && to > 0)
                slices = to;
            per = slices > 0 && to > 0 ? (to + slices - 1) / slices : 0;
            slice_k = 0;
            started = now;
            next_tick += (double)tick_ms;
            if (next_tick < now)
                next_tick = now + (double)tick_ms; /* after a stall: skip, never burst */
        }
        /* Due slices of the event being delivered. */
        while (done < to && (slices <= 1 || now >= started + (double)spread_ms * (double)slice_k / (double)slices)) {
            size_t end = done + per;
            if (end > to || slices <= 1)
                end = to;
            if (end > nsubs)
                end = nsubs; /* some left meanwhile */
            for (size_t i = done; i < end; i++)
                if (send_all(subs[i]->fd, chunk, chunk_len) != 0)
                    shutdown(subs[i]->fd, SHUT_RDWR); /* dropped at its hang-up */
            done = end >= nsubs ? to : end;
            slice_k++;
        }
        int timeout = -1;
        if (done < to)
            timeout = (int)(started + (double)spread_ms * (double)slice_k / (double)slices - now) + 1;
        else if (next_tick > 0)
            timeout = (int)(next_tick - now) + 1;
        if (timeout < 0 && (done < to || next_tick > 0))
            timeout = 0;
        int k = epoll_wait(ep, evs, 256, timeout);
        for (int i = 0; i < k; i++) {
            struct conn* c = evs[i].data.ptr;
            if (c == NULL) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn* nc = malloc(sizeof *nc);
                    if (nc == NULL) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    nc->sub = -1;
                    nc->len = 0;
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            readable(c);
        }
    }
    return 0;
usage:
    fprintf(stderr, "usage: sse_ceiling -l 127.0.0.1:PORT [-t TICK_MS] [-s SPREAD_MS] [-S SLICE_MS]\n");
    return 2;
}
